// The trivial upstream of the gateway benches (started by common.mjs's startUpstream): serve.py's answer shape with
// no model, so what is measured is the proxy's cost. It tells its port to the parent over IPC.
import { createServer } from 'node:http';

const answer = JSON.stringify({ predictions: ['sun'], version: 1 });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer));
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
// the parent's channel closing (it ended, or was killed) ends the upstream too
process.on('disconnect', () => process.exit(0));
// SIGTERM ends it through exit, so hooks loaded with --import (gcProbe.mjs, phaseHooks.mjs) write what they recorded
process.on('SIGTERM', () => process.exit(0));
