import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { codeServerEntry, findRepoRoot, node24Binary } from './paths';

export interface CodeServerOptions {
  /** Folder the workbench opens. */
  workspace: string;
  /** Folder for everything the server writes: config, user data, extensions, XDG dirs, log. */
  runDir: string;
  /** Loads this folder as the extension under development (through the URL payload). */
  extensionDevelopmentPath?: string;
  /** A test-electron style `index.js` exporting `run()`; the workbench runs it and then exits. */
  extensionTestsPath?: string;
  auth?: 'none' | 'password';
  /** Defaults to `<runDir>/exts`. */
  extensionsDir?: string;
  /** Checkout holding .tools/code-server; found from this file when omitted. */
  root?: string;
  /** Milliseconds to wait for the port to accept connections. */
  startTimeoutMs?: number;
  /** 'disabled' (default): every folder is trusted. 'restricted': trust is on and the folder opens untrusted, with no prompt. */
  workspaceTrust?: 'disabled' | 'restricted';
}

export interface CodeServer {
  /** Workbench URL with the folder and the extension-development payload. */
  url: string;
  port: number;
  /** Set when auth is 'password'. */
  password?: string;
  logFile: string;
  /** Process-group id (the server was started as a group leader). */
  pid: number;
  /** Settles when the server process exits, with its exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

/** Asks the kernel for a free loopback port; the tiny window until code-server binds it is acceptable here. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('mloop: could not read the port of a probe socket'));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** Last lines of a log, for error messages that must explain a failed start. */
export function logTail(file: string, lines = 40): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

/** A `vscode-remote://` URI for an absolute server path, as the workbench's payload expects. */
export function remoteUri(port: number, absolutePath: string): string {
  return `vscode-remote://${LOOPBACK}:${port}${resolve(absolutePath)}`;
}

export function workbenchUrl(opts: { port: number; workspace: string; extensionDevelopmentPath?: string; extensionTestsPath?: string }): string {
  const payload: [string, string][] = [];
  if (opts.extensionDevelopmentPath !== undefined) {
    payload.push(['extensionDevelopmentPath', remoteUri(opts.port, opts.extensionDevelopmentPath)]);
  }
  if (opts.extensionTestsPath !== undefined) {
    payload.push(['extensionTestsPath', remoteUri(opts.port, opts.extensionTestsPath)]);
  }
  const query = [`folder=${encodeURIComponent(resolve(opts.workspace))}`];
  if (payload.length > 0) query.push(`payload=${encodeURIComponent(JSON.stringify(payload))}`);
  return `http://${LOOPBACK}:${opts.port}/?${query.join('&')}`;
}

/** User settings that keep the workbench quiet and deterministic for screenshots and tests. */
const seededSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'git.openRepositoryInParentFolders': 'never',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

/** Workspace trust on, and a new folder opens in Restricted Mode without the modal trust prompt. */
const restrictedModeSettings = {
  'security.workspace.trust.enabled': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.banner': 'never',
  'security.workspace.trust.untrustedFiles': 'open',
};

/** Environment for the server: our XDG dirs, Node 24 first on PATH, nothing inherited from a surrounding VS Code. */
function serverEnv(runDir: string, nodeBinary: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // a VS Code terminal exports IPC hooks that would make code-server talk to that editor instead
    if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE') continue;
    env[key] = value;
  }
  env.XDG_CONFIG_HOME = join(runDir, 'xdg/config');
  env.XDG_DATA_HOME = join(runDir, 'xdg/data');
  env.XDG_CACHE_HOME = join(runDir, 'xdg/cache');
  env.XDG_STATE_HOME = join(runDir, 'xdg/state');
  env.PATH = `${dirname(nodeBinary)}:${env.PATH ?? ''}`;
  return env;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    // ESRCH: the whole group is already gone
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Starts code-server as its own process group on a free loopback port and resolves once the port
 * accepts connections. Rejects with the log tail when the server exits or does not listen in time.
 */
export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const root = opts.root ?? findRepoRoot();
  const entry = codeServerEntry(root);
  const nodeBinary = node24Binary(root);
  const runDir = resolve(opts.runDir);
  const auth = opts.auth ?? 'none';
  const userDataDir = join(runDir, 'ud');
  const extensionsDir = resolve(opts.extensionsDir ?? join(runDir, 'exts'));
  for (const dir of [runDir, join(userDataDir, 'User'), extensionsDir, join(runDir, 'xdg')]) mkdirSync(dir, { recursive: true });

  const settingsFile = join(userDataDir, 'User/settings.json');
  const restricted = opts.workspaceTrust === 'restricted';
  const settings = restricted ? { ...seededSettings, ...restrictedModeSettings } : seededSettings;
  if (!existsSync(settingsFile)) writeFileSync(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);

  const port = await freePort();
  const password = auth === 'password' ? randomBytes(18).toString('base64url') : undefined;
  const configFile = join(runDir, 'config.yaml');
  // the password lives in a 0600 file, not in argv where `ps` would show it
  const config = [`bind-addr: ${LOOPBACK}:${port}`, `auth: ${auth}`, 'cert: false'];
  if (password !== undefined) config.push(`password: ${password}`);
  writeFileSync(configFile, `${config.join('\n')}\n`, { mode: 0o600 });

  const args = [
    entry,
    '--config',
    configFile,
    '--auth',
    auth,
    '--bind-addr',
    `${LOOPBACK}:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    ...(restricted ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    '--vscode-option',
    'enable-smoke-test-driver',
    resolve(opts.workspace),
  ];
  const logFile = join(runDir, 'code-server.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(nodeBinary, args, {
    cwd: runDir,
    env: serverEnv(runDir, nodeBinary),
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`mloop: could not spawn ${nodeBinary} ${entry}`);

  let exited = false;
  const exitPromise = new Promise<number | null>((done) => {
    child.once('exit', (code) => {
      exited = true;
      done(code);
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      killGroup(pid, 'SIGTERM');
      const graceful = await Promise.race([exitPromise.then(() => true), delay(5000, { unref: true }).then(() => false)]);
      // SIGKILL the group either way: helpers such as the file watcher may outlive the main process
      killGroup(pid, 'SIGKILL');
      if (!graceful) await exitPromise;
    })();
    return stopping;
  };

  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`mloop: code-server exited before listening on ${LOOPBACK}:${port}; log ${logFile}:\n${logTail(logFile)}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mloop: code-server did not listen on ${LOOPBACK}:${port} within ${timeoutMs} ms; log ${logFile}:\n${logTail(logFile)}`);
    }
    await delay(100);
  }

  const url = workbenchUrl({
    port,
    workspace: opts.workspace,
    extensionDevelopmentPath: opts.extensionDevelopmentPath,
    extensionTestsPath: opts.extensionTestsPath,
  });
  return { url, port, password, logFile, pid, exited: exitPromise, stop };
}

/** Resolves after `ms`; with `unref` the timer does not keep Node alive (for timeouts in a race). */
export function delay(ms: number, options: { unref?: boolean } = {}): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    if (options.unref === true) timer.unref();
  });
}
