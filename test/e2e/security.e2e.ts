import * as assert from 'node:assert/strict';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startFromPalette } from '../harness/browser';
import { pollUntil } from '../harness/poll';
import type { E2eContext } from './context';

/** What a webview page reports about itself after hostile code tried to run in it. */
interface WebviewProbe {
  title: string;
  csp: string;
  scripts: { id: string; src: string; nonce: string; inline: boolean }[];
  handlers: string[];
  injected: number;
  violations: string[];
  fetchBlocked: boolean;
  inRoots: 'load' | 'error' | 'timeout';
  outsideRoots: 'load' | 'error' | 'timeout';
}

/**
 * Runs inside a webview's page (a string, so it is sent as written). It reads the CSP and the scripts,
 * then tries what an injected payload would: an inline script, a remote script, an inline event
 * handler, a fetch to the internet, and images from inside and outside localResourceRoots (the
 * extension's media/ vs its docs/ folder, both served by the webview's resource origin).
 */
const PROBE = `(async () => {
  const meta = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
  const scripts = [...document.scripts].map((s) => ({ id: s.id, src: s.src, nonce: s.nonce, inline: !s.src }));
  const handlers = [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => el.tagName + '@' + a.name));
  const violations = [];
  document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
  window.__mloopInjected = 0;
  const inline = document.createElement('script');
  inline.textContent = 'window.__mloopInjected = 1';
  document.body.appendChild(inline);
  const remote = document.createElement('script');
  remote.src = 'https://example.com/payload.js';
  document.body.appendChild(remote);
  const handler = document.createElement('img');
  handler.setAttribute('onerror', 'window.__mloopInjected = 2');
  handler.src = 'data:image/png;base64,AAAA';
  document.body.appendChild(handler);
  let fetchBlocked = false;
  try { await fetch('https://example.com/'); } catch { fetchBlocked = true; }
  const script = [...document.scripts].find((s) => s.src.includes('/dist/webview/'));
  const base = script ? script.src.slice(0, script.src.indexOf('/dist/webview/')) : '';
  const load = (url) => new Promise((done) => {
    const img = new Image();
    const timer = setTimeout(() => done('timeout'), 5000);
    img.addEventListener('load', () => { clearTimeout(timer); done('load'); });
    img.addEventListener('error', () => { clearTimeout(timer); done('error'); });
    img.src = url;
  });
  const inRoots = await load(base + '/media/mloop.png');
  const outsideRoots = await load(base + '/docs/screenshot.png');
  await new Promise((r) => setTimeout(r, 300));
  // leave the page as it was: later steps screenshot it
  for (const el of [inline, remote, handler]) el.remove();
  return { title: document.title, csp: meta ? meta.getAttribute('content') : '', scripts, handlers, injected: window.__mloopInjected, violations, fetchBlocked, inRoots, outsideRoots };
})()`;

/**
 * Probes the webview the editor shows (a hidden panel has no page: retainContextWhenHidden is off), once
 * its page titled `title` has loaded, from inside that page.
 */
async function probeVisibleWebview(ctx: E2eContext, title: string, prefix = false): Promise<WebviewProbe> {
  const isPage = `document.title${prefix ? `.startsWith(${JSON.stringify(title)})` : ` === ${JSON.stringify(title)}`} && !!document.querySelector('main#app')`;
  const frame = await pollUntil(
    async () => {
      for (const candidate of ctx.page().frames()) if ((await candidate.evaluate(isPage).catch(() => false)) === true) return candidate;
      return undefined;
    },
    { what: `the "${title}" webview page`, timeoutMs: 45_000, intervalMs: 500 },
  );
  // a string is evaluated as written, inside the page (the DOM code needs no types here)
  return (await frame.evaluate(PROBE)) as WebviewProbe;
}

function checkProbe(p: WebviewProbe): void {
  const directives = new Map(
    p.csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map((d) => [d[0]!, d.slice(1)]),
  );
  assert.deepEqual(directives.get('default-src'), ["'none'"], `${p.title}: default-src 'none' (${p.csp})`);
  const scriptSrc = directives.get('script-src') ?? [];
  assert.equal(scriptSrc.length, 1, `${p.title}: script-src is one nonce and nothing else (${scriptSrc.join(' ')})`);
  const nonce = /^'nonce-([A-Za-z0-9+/=]{16,})'$/.exec(scriptSrc[0] ?? '')?.[1];
  assert.ok(nonce, `${p.title}: script-src nonce (${scriptSrc[0]})`);
  for (const [name, sources] of directives) {
    const unsafe = sources.filter(
      (t) => ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", '*', 'http:', 'https:', 'blob:'].includes(t) || (t === 'data:' && name !== 'img-src'),
    );
    assert.deepEqual(unsafe, [], `${p.title}: unsafe sources in ${name}`);
  }
  for (const name of ['connect-src', 'frame-src', 'object-src', 'child-src', 'worker-src'])
    assert.ok(!directives.has(name), `${p.title}: ${name} stays 'none' (inherits default-src)`);
  assert.ok(p.scripts.length >= 1, `${p.title}: the page has its bundle`);
  // the workbench's own acquireVsCodeApi shim (#_vscodeApiScript) is put in before our CSP; every other script is ours
  for (const s of p.scripts.filter((x) => x.id !== '_vscodeApiScript')) {
    assert.equal(s.inline, false, `${p.title}: an inline script is on the page`);
    assert.equal(s.nonce, nonce, `${p.title}: ${s.src} carries the CSP nonce`);
  }
  assert.deepEqual(p.handlers, [], `${p.title}: inline event handler attributes`);
  assert.equal(p.injected, 0, `${p.title}: injected code ran (${p.injected})`);
  assert.ok(
    p.violations.some((v) => v.startsWith('script-src') && v.endsWith('inline')),
    `${p.title}: the inline script was reported blocked (${p.violations.join(', ')})`,
  );
  assert.ok(
    p.violations.some((v) => v.startsWith('script-src') && v.includes('example.com')),
    `${p.title}: the remote script was blocked (${p.violations.join(', ')})`,
  );
  assert.equal(p.fetchBlocked, true, `${p.title}: fetch to the internet blocked`);
  assert.equal(p.inRoots, 'load', `${p.title}: an image inside localResourceRoots loads`);
  assert.equal(p.outsideRoots, 'error', `${p.title}: a file of the extension outside localResourceRoots is refused`);
}

/**
 * The same probe for a webview that a later step opens (its page title starts with `title`): checked on the
 * spot and recorded with the others. `bundle` names the webview/<bundle> it serves, which the reliability
 * suite's source check requires every webview bundle to have.
 */
export async function probeWebview(ctx: E2eContext, title: string, bundle: string): Promise<void> {
  const probe = await probeVisibleWebview(ctx, title, true);
  const results = join(ctx.root, 'test-results');
  mkdirSync(results, { recursive: true });
  appendFileSync(join(results, 'webview-csp.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), bundle, probes: [probe] })}\n`);
  checkProbe(probe);
}

/** Every mloop webview, as the user opens it, checked from inside the page the workbench shows. */
export function registerSecuritySuite(ctx: E2eContext): void {
  describe('webview security in the real workbench', () => {
    it('Metrics and Compare webviews: CSP default-src none + nonce script, injected scripts and handlers blocked, nothing outside localResourceRoots', async function () {
      this.timeout(90_000);
      const page = ctx.page();
      // the Metrics panel is open from the train journey's chart step; open Compare over both runs (the seeded and the trained one)
      await startFromPalette(page, 'mloop: Compare Runs');
      // a multi-select pick: clicking a row toggles it
      const rows = page.locator('.quick-input-widget .monaco-list-row');
      await pollUntil(async () => (await rows.count()) >= 2, { what: 'the run pick with both runs', timeoutMs: 15_000 });
      for (let i = 0; i < 2; i++) await rows.nth(i).click();
      await pollUntil(async () => /2 Selected/i.test(await page.locator('.quick-input-widget').innerText()), {
        what: '"2 Selected" in the run pick',
        timeoutMs: 5_000,
      });
      await page.locator('.quick-input-widget .monaco-button', { hasText: 'OK' }).first().click();

      const probes: WebviewProbe[] = [await probeVisibleWebview(ctx, 'Compare Runs')];
      await ctx.screenshot('security-compare-webview');
      // back to the Metrics tab: its page is rebuilt from saved state, under the same CSP
      await page.locator('.part.editor .tabs-container .tab', { hasText: 'Metrics' }).first().click();
      probes.push(await probeVisibleWebview(ctx, 'Metrics'));
      await ctx.screenshot('security-metrics-webview');
      const results = join(ctx.root, 'test-results');
      mkdirSync(results, { recursive: true });
      appendFileSync(join(results, 'webview-csp.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), probes })}\n`);
      assert.deepEqual(probes.map((p) => p.title).sort(), ['Compare Runs', 'Metrics'], 'both mloop webviews were probed');
      for (const probe of probes) checkProbe(probe);
    });
  });
}
