import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mlflowEnv, PYTHON } from '../support/python';

/** A real `mlflow server` (SQLite backend, local artifacts) on 127.0.0.1, started and stopped by a test. */
export interface MlflowServerProcess {
  readonly uri: string;
  readonly dbPath: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The admin of a server started with `auth` (MLflow's basic-auth app): creates the users through its API. */
export const AUTH_ADMIN = { username: 'admin', password: 'admin-password-1234' };

export async function startMlflowServer(
  dir: string,
  options: { port?: number; dbPath?: string /** MLflow's basic-auth app: users checked, every user EDIT on what others create. */; auth?: boolean } = {},
): Promise<MlflowServerProcess> {
  const port = options.port ?? (await freePort());
  const dbPath = options.dbPath ?? join(dir, 'server.db');
  const uri = `http://127.0.0.1:${port}`;
  const authEnv: NodeJS.ProcessEnv = {};
  if (options.auth) {
    const ini = join(dir, 'basic_auth.ini');
    writeFileSync(
      ini,
      [
        '[mlflow]',
        'default_permission = EDIT',
        `database_uri = sqlite:///${join(dir, 'basic_auth.db')}`,
        `admin_username = ${AUTH_ADMIN.username}`,
        `admin_password = ${AUTH_ADMIN.password}`,
        'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
        // a PBKDF2 check per request is slow on a loaded machine: each (user, password) checked once a minute
        'auth_cache_ttl_seconds = 60',
        '',
      ].join('\n'),
    );
    Object.assign(authEnv, { MLFLOW_AUTH_CONFIG_PATH: ini, MLFLOW_FLASK_SERVER_SECRET_KEY: randomBytes(16).toString('hex') });
  }
  const child: ChildProcess = spawn(
    PYTHON,
    [
      '-m',
      'mlflow',
      'server',
      '--backend-store-uri',
      `sqlite:///${dbPath}`,
      '--artifacts-destination',
      join(dir, 'server-artifacts'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--workers',
      '1',
      ...(options.auth ? ['--app-name', 'basic-auth'] : []),
    ],
    {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'], // no background job runner (its huey workers cost more than the server on a 2-core machine)
      env: { ...mlflowEnv(), MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false', ...authEnv },
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  let exited = false;
  child.on('exit', () => (exited = true));
  const deadline = Date.now() + 240_000; // a loaded 2-core machine has taken 45 s to start it (and 150 s under a load of 40)
  for (;;) {
    if (exited) throw new Error(`mlflow server exited before it listened:\n${output.slice(-3000)}`);
    try {
      const r = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      process.kill(-child.pid!, 'SIGKILL');
      throw new Error(`mlflow server did not answer /health within 240 s:\n${output.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    uri,
    dbPath,
    stop: async () => {
      if (exited) return;
      const gone = new Promise<void>((done) => child.once('exit', () => done()));
      process.kill(-child.pid!, 'SIGTERM'); // the whole group: uvicorn workers too
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
