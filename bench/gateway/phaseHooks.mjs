// Loaded into a gateway or upstream process by phaseProbe.mjs (node --import), beside gcProbe.mjs: the times of each
// request's phases inside the process, keyed by the client's `x-probe` header, from Node's and undici's diagnostics
// channels (nothing in the product changes; the channels publish only while someone subscribes):
//   server side  s: the request's head parsed (http.server.request.start), e: its body read, f: its answer handed to the kernel;
//   undici side  c: the request made for the version, w: its head written to the version's socket, h: the version's
//                answer head parsed, t: the answer complete (gateway only);
// and every write of the serving log (its start, its completion, bytes), so a slow request can be set against them.
// Times are epoch ms (performance.timeOrigin + now), the clock gcProbe.mjs and the client use. Written to
// $MLOOP_PHASE_DIR/<pid>.json when the process exits. Diagnosis only: the product never loads it.
import { subscribe } from 'node:diagnostics_channel';
import fs from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const dir = process.env.MLOOP_PHASE_DIR;
if (dir) {
  const origin = performance.timeOrigin;
  const now = () => origin + performance.now();
  const served = [];
  const forwarded = [];
  const writes = [];
  const byRequest = new WeakMap();
  const byUpstream = new WeakMap();
  const probeOfRaw = (raw) => {
    for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 7 && raw[i].toLowerCase() === 'x-probe') return raw[i + 1];
    return undefined;
  };
  // undici keeps a request's headers as a flat list or (older) one string
  const probeOfUndici = (headers) => {
    if (typeof headers === 'string') return /(?:^|\r\n)x-probe: *([^\r\n]*)/i.exec(headers)?.[1];
    if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === 'x-probe') return String(headers[i + 1]);
    return undefined;
  };
  subscribe('http.server.request.start', ({ request }) => {
    const p = probeOfRaw(request.rawHeaders);
    if (p === undefined) return;
    const r = { p, s: now() };
    byRequest.set(request, r);
    served.push(r);
    request.once('end', () => (r.e = now()));
  });
  subscribe('http.server.response.finish', ({ request }) => {
    const r = byRequest.get(request);
    if (r) r.f = now();
  });
  subscribe('undici:request:create', ({ request }) => {
    const p = probeOfUndici(request.headers);
    if (p === undefined) return;
    const u = { p, c: now() };
    byUpstream.set(request, u);
    forwarded.push(u);
  });
  const mark = (key) => ({ request }) => {
    const u = byUpstream.get(request);
    if (u) u[key] = now();
  };
  subscribe('undici:client:sendHeaders', mark('w'));
  subscribe('undici:request:headers', mark('h'));
  subscribe('undici:request:trailers', mark('t'));
  // the serving log's writes (fs.WriteStream calls fs.write on the module object at write time)
  const write = fs.write;
  fs.write = function probedWrite(fd, buffer, ...rest) {
    const w = [now(), 0, buffer?.length ?? 0];
    writes.push(w);
    const done = rest.at(-1);
    if (typeof done === 'function')
      rest[rest.length - 1] = function written(...args) {
        w[1] = now();
        return done.apply(this, args);
      };
    return write.call(this, fd, buffer, ...rest);
  };
  process.on('exit', () => fs.writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, served, forwarded, writes })));
}
