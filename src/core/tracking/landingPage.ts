import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** The extension's id as VS Code URIs name it: <scheme>://mloop.mloop/run/<id>. */
export const EXTENSION_AUTHORITY = 'mloop.mloop';

/**
 * The endpoint's root page. MLflow clients print "View run … at http://127.0.0.1:<port>/#/experiments/<e>/runs/<r>";
 * the fragment never reaches the server, so this page holds no data and needs no token: its script reads the
 * fragment and hands the run (or experiment) id to the editor through the extension's URI handler.
 */
export function sendLandingPage(res: ServerResponse, uriScheme: string): void {
  const nonce = randomBytes(16).toString('base64');
  const scheme = /^[a-z][a-z0-9+.-]*$/.test(uriScheme) ? uriScheme : 'vscode';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mloop</title>
<style nonce="${nonce}">body{font:14px system-ui,sans-serif;margin:3em;max-width:40em;color:#333}a{color:#0066b8}</style></head>
<body><h1>mloop tracking endpoint</h1>
<p id="what">This endpoint serves the MLflow REST API to training runs started by mloop. Runs are shown in VS Code.</p>
<p><a id="open" hidden>Open in VS Code</a></p>
<script nonce="${nonce}">
const m = /^#\\/experiments\\/([0-9]+)(?:\\/runs\\/([0-9a-f]{32}))?/.exec(location.hash);
if (m) {
  const target = '${scheme}://${EXTENSION_AUTHORITY}/' + (m[2] ? 'run/' + m[2] : 'experiment/' + m[1]);
  const link = document.getElementById('open');
  link.href = target;
  link.hidden = false;
  document.getElementById('what').textContent = m[2] ? 'Opening run ' + m[2].slice(0, 8) + ' in VS Code…' : 'Opening experiment ' + m[1] + ' in VS Code…';
  location.href = target;
}
</script></body></html>
`;
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  });
  res.end(html);
}
