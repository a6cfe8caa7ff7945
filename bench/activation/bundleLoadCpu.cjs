// CPU and wall time of one require() of an extension bundle, with a stub `vscode` module (every member a callable,
// constructible proxy): what loading the bundle costs before activate() runs. Usage:
//   bash scripts/with-node.sh node bench/activation/bundleLoadCpu.cjs /abs/path/to/dist/extension.js
// Run it interleaved for two builds (docs/benchmarks-history.md, Activation, session 22 tidy22).
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script: one require() is what it measures */
const Module = require('module');
const orig = Module._load;
const any = () => new Proxy(function () {}, { get: (t, k) => (k === Symbol.toPrimitive ? () => 0 : k === '__esModule' ? false : any()), construct: () => any(), apply: () => any() });
const fake = Object.create(any());
Module._load = function (req) { if (req === 'vscode') return fake; return orig.apply(this, arguments); };
const t0 = performance.now();
const c0 = process.cpuUsage();
require(process.argv[2]);
const c = process.cpuUsage(c0);
console.log('require', (performance.now() - t0).toFixed(1), 'ms wall', ((c.user + c.system) / 1000).toFixed(1), 'ms cpu');
