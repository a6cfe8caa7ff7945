// Entry of dist/gateway.js: the traffic gateway of one target, started detached by src/core/gateway/control.ts.
// With workers > 1 this process is the primary: it forks the workers (this same file, MLOOP_GATEWAY_WORKER=1), and
// all of them bind the port with SO_REUSEPORT (docs/decisions/gateway-workers.md).
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { z } from 'zod';
import { ipcPeer } from './ipcPeer';
import { routeTableSchema } from './routing';
import { reusePortAvailable, startGatewayServer, type GatewayPeer, type GatewayServer } from './server';

const argsSchema = z.strictObject({
  target: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  token_path: z.string().min(1),
  serving_log: z.string().min(1),
  feedback_log: z.string().min(1),
  /** Processes serving the port (default 1). */
  workers: z.number().int().min(1).max(64).optional(),
  table: routeTableSchema,
});
type GatewayArgs = z.output<typeof argsSchema>;

/** A worker's calls to the primary may wait for a status of all the workers (each up to WORKER_CALL_MS). */
const PRIMARY_CALL_MS = 30_000;
/** The primary's calls to a worker; a worker that does not take a new routing table in this time is replaced. */
const WORKER_CALL_MS = 10_000;
const WORKER_START_MS = 30_000;

function parseArgs(): GatewayArgs {
  const parsed = argsSchema.safeParse(JSON.parse(process.argv[2] ?? '{}'));
  if (!parsed.success) throw new Error(`gateway arguments: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

const serverOptions = (args: GatewayArgs) => ({
  target: args.target,
  port: args.port,
  token: readFileSync(args.token_path, 'utf8').trim(),
  table: args.table,
  servingLogPath: args.serving_log,
  feedbackLogPath: args.feedback_log,
});

/** A worker: proxies on the table the primary gives it; control and feedback go to the primary; it ends with the primary. */
async function worker(args: GatewayArgs): Promise<void> {
  // set once the server listens (the channel and the disconnect handler exist before it)
  const running: { server?: GatewayServer } = {};
  let started: () => void = () => undefined;
  const ready = new Promise<void>((done) => (started = done));
  // the channel is answered from the first turn of the event loop: a routing change sent while this process starts waits here
  const primary = ipcPeer(
    process,
    async (call) => {
      // not listening yet: not counted in a status, no request served; a routing change waits for the server
      if (!running.server && call.kind === 'status') throw new Error('starting');
      if (!running.server && (call.kind === 'lookup' || call.kind === 'row')) return null;
      await ready;
      return running.server!.answer(call);
    },
    PRIMARY_CALL_MS,
  );
  // the primary stops the workers (SIGTERM reaches the whole process group: the primary's close ends them)
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  process.once('disconnect', () => {
    const exit = (): never => process.exit(0);
    if (running.server) running.server.close().then(exit, exit);
    else exit();
  });
  running.server = await startGatewayServer({ ...serverOptions(args), reusePort: true, primary });
  // asked to leave (fewer workers): ends once its requests are answered
  void running.server.left.then(() => process.exit(0));
  started();
  process.send?.({ mloop: 'ready' });
}

const noReusePort = (requested: number): void =>
  console.error(
    `mloop gateway: workers: ${requested} needs SO_REUSEPORT (Linux, Node >= 22.12; this is Node ${process.versions.node} on ${process.platform}): one process serves`,
  );

/**
 * Rejects with EADDRINUSE when something listens on the port (probed without SO_REUSEPORT, as a plain server binds);
 * tried for up to 2 s, the time for the processes of a gateway killed just before (kill -9) to be gone.
 */
async function portFree(port: number): Promise<void> {
  const probe = (): Promise<void> =>
    new Promise((done, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => done()));
    });
  for (let attempt = 0; ; attempt++) {
    try {
      return await probe();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 40) throw error;
      await new Promise((done) => setTimeout(done, 50));
    }
  }
}

async function primary(args: GatewayArgs): Promise<void> {
  const requested = args.workers ?? 1;
  const reusable = reusePortAvailable();
  const multi = requested > 1 && reusable;
  if (requested > 1 && !multi) noReusePort(requested);
  const children = new Set<ChildProcess>();
  // workers asked to leave (fewer workers): not started again when they end
  const leaving = new Set<ChildProcess>();
  const peers = new Map<ChildProcess, GatewayPeer>();
  let stopping = false;
  /** Fewer or more workers while serving (PUT /_mloop/workers): new ones join the port first, extra ones leave gracefully. */
  const setWorkers = async (workers: number): Promise<{ requested: number; wanted: number }> => {
    const wanted = workers > 1 && reusable ? workers : 1;
    if (workers > 1 && wanted === 1) noReusePort(workers);
    const serving = [...children].filter((c) => !leaving.has(c));
    if (serving.length < wanted - 1) {
      const started = await Promise.race([
        Promise.all(Array.from({ length: wanted - 1 - serving.length }, forkWorker)),
        new Promise<boolean[]>((done) => setTimeout(() => done([]), WORKER_START_MS).unref()),
      ]);
      if (started.filter(Boolean).length < wanted - 1 - serving.length) console.error(`mloop gateway: not every new worker listens`);
    } else {
      for (const child of serving.slice(wanted - 1)) {
        leaving.add(child);
        void peers
          .get(child)
          ?.call({ kind: 'leave' })
          .catch(() => undefined);
      }
    }
    console.error(`mloop gateway: workers ${workers} (${wanted} processes serve the port)`);
    return { requested: workers, wanted };
  };
  // the primary binds with SO_REUSEPORT wherever it can, so that workers can join later without a restart; a port
  // another program (or another target's gateway) holds is an error as before, not a port shared with it
  if (reusable) await portFree(args.port);
  const server = await startGatewayServer({
    ...serverOptions(args),
    ...(reusable ? { reusePort: true } : {}),
    workersRequested: requested,
    workersWanted: multi ? requested : 1,
    setWorkers: (workers) => setWorkers(workers),
  });
  /** Starts one worker with the table of now; resolves when it listens (false when it ended first). */
  const forkWorker = (): Promise<boolean> => {
    const child = fork(process.argv[1]!, [JSON.stringify({ ...args, table: server.status().table })], {
      env: { ...process.env, MLOOP_GATEWAY_WORKER: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(child);
    const peer = ipcPeer(child, (call) => server.answer(call), WORKER_CALL_MS);
    let replaced = false;
    // a worker that does not take a routing change would serve the old routes: it is replaced (the new one starts with the new table)
    const guarded: GatewayPeer = {
      call: (call, within) =>
        peer.call(call, within).catch((error: unknown) => {
          if (call.kind === 'routes' && child.exitCode === null) {
            // (a leaving worker too: it still answers requests, and must not on the old routes)
            console.error(`mloop gateway: worker ${child.pid} did not take the new routes (${(error as Error).message}): replaced`);
            replaced = true;
            child.kill('SIGKILL');
          }
          throw error;
        }),
    };
    peers.set(child, guarded);
    let listening = false;
    // from its fork on, so that a routing change made while it starts reaches it too (it waits in its channel)
    server.addWorker(guarded);
    return new Promise((done) => {
      child.on('message', (message) => {
        if ((message as { mloop?: string } | null)?.mloop !== 'ready' || listening) return;
        listening = true;
        done(true);
      });
      child.once('exit', (code, signal) => {
        children.delete(child);
        peers.delete(child);
        server.removeWorker(guarded);
        done(false);
        if (stopping) return;
        if (leaving.delete(child)) {
          console.error(`mloop gateway: worker ${child.pid} left`);
          return;
        }
        const again = listening || replaced;
        console.error(`mloop gateway: worker ${child.pid} ended (${signal ?? `exit ${code}`})${again ? ': another one starts' : ''}`);
        // one that ended by itself before it listened is not started again (it would keep failing the same way)
        if (again) void forkWorker();
      });
    });
  };
  if (multi) {
    const started = await Promise.race([
      Promise.all(Array.from({ length: requested - 1 }, forkWorker)),
      new Promise<boolean[]>((done) => setTimeout(() => done([]), WORKER_START_MS).unref()),
    ]);
    const listening = started.filter(Boolean).length;
    if (listening < requested - 1) console.error(`mloop gateway: ${listening} of ${requested - 1} workers listen`);
  }
  console.log(`mloop gateway for target "${args.target}" listening on 127.0.0.1:${server.port} (pid ${process.pid}, ${1 + children.size} processes)`);
  const stop = (): void => {
    stopping = true;
    // the workers end when their channel closes (after their last serving-log lines); then this process
    const ended = [...children].map((child) => new Promise<void>((done) => (child.exitCode !== null ? done() : child.once('exit', () => done()))));
    for (const child of children) child.disconnect();
    Promise.all([server.close(), ...ended]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const main = async (): Promise<void> => {
  const args = parseArgs();
  if (process.env.MLOOP_GATEWAY_WORKER === '1') await worker(args);
  else await primary(args);
};

main().catch((error: unknown) => {
  console.error(`mloop gateway: ${(error as Error).message}`);
  process.exit(1);
});
