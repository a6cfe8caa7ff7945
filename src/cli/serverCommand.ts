import { type Command, InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openStore } from '../core/store/store';
import { startTrackingServer, type TrackingServer } from '../core/tracking/server';
import { CliFailure, type CliIo } from './cliIo';
import { artifactRootOf } from '../core/store/artifactRoot';

export interface ServerCommandDeps {
  readonly io: CliIo;
  /** program.ts's child(): a subcommand whose usage errors name "mloop server". */
  readonly child: (path: string, description: string) => Command;
  /** The project folder from the global --dir or the nearest mloop project (throws CliFailure if none). */
  readonly projectRoot: () => string;
  /** The store file of a project (honours the global --store and MLOOP_STORE). */
  readonly storePath: (root: string) => string;
  /** Resolves with the reason to stop; default: the first SIGINT or SIGTERM. Injected by tests. */
  readonly untilStopped?: () => Promise<string>;
}

/** Resolves on the first SIGINT/SIGTERM, and stops listening for them afterwards. */
export function untilSignal(): Promise<string> {
  return new Promise((done) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 (any free port) to 65535.');
  return n;
}

/**
 * `mloop server [--port N] [--dir <project>]`: serves the project's store as an MLflow tracking
 * endpoint on 127.0.0.1 and prints the two variables a notebook or script needs.
 */
export function registerServerCommand(program: Command, deps: ServerCommandDeps): void {
  const { io } = deps;
  const out = (line: string): void => void io.stdout.write(`${line}\n`);
  program.addCommand(
    deps
      .child('server', 'serve the project store as an MLflow tracking endpoint on 127.0.0.1 (for notebooks and other tools)')
      .option('-p, --port <port>', 'port to listen on (default: a free port)', parsePort)
      .option('-C, --dir <project>', 'project folder (default: the global --dir or the nearest mloop project)')
      .option('-q, --quiet', 'do not log refused requests to stderr')
      .action(async (options: { port?: number; dir?: string; quiet?: boolean }) => {
        const root = options.dir ? resolve(io.cwd, options.dir) : deps.projectRoot();
        if (!existsSync(root)) throw new CliFailure(`cannot serve ${root}: the folder does not exist`);
        const storeFile = deps.storePath(root);
        const store = openStore({ path: storeFile });
        let server: TrackingServer;
        try {
          server = await startTrackingServer({
            store,
            artifactRoot: artifactRootOf(storeFile),
            port: options.port,
            log: options.quiet ? undefined : (line) => void io.stderr.write(`mloop server: ${line}\n`),
          });
        } catch (error) {
          store.close();
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE') throw new CliFailure(`port ${options.port} on 127.0.0.1 is in use; pick another with --port, or omit it for a free one`);
          if (code === 'EACCES') throw new CliFailure(`not allowed to listen on port ${options.port}; use a port above 1023`);
          throw error;
        }
        out(`# mloop tracking server for ${root} (store ${storeFile})`);
        out(`MLFLOW_TRACKING_URI=${server.uri}`);
        out(`MLFLOW_TRACKING_TOKEN=${server.token}`);
        out('# export both in a shell, or set them in os.environ before "import mlflow"; Ctrl+C stops the server');
        const reason = await (deps.untilStopped ?? untilSignal)();
        await server.close();
        store.close();
        out(`# stopped (${reason})`);
      }),
  );
}
