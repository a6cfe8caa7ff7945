import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { collectConsole, launchChromium, newWorkbenchPage } from './browser';
import type { ConsoleLine } from './browser';
import { startCodeServer } from './codeServer';
import type { CodeServer } from './codeServer';

/** What the workbench hands `window.codeAutomationExit` when an extension test run ends. */
export interface AutomationExit {
  code: number;
  logs: { relativePath: string; contents: string }[];
}

export interface WorkbenchSessionOptions {
  root: string;
  workspace: string;
  runDir: string;
  /** Where the page's full console log is written (`<consoleLogName>`). */
  resultsDir: string;
  consoleLogName: string;
  extensionTestsPath?: string;
  onConsoleLine?: (line: ConsoleLine) => void;
  /** See CodeServerOptions.workspaceTrust. */
  workspaceTrust?: 'disabled' | 'restricted';
}

export interface WorkbenchSession {
  server: CodeServer;
  browser: Browser;
  page: Page;
  /** Settles when the workbench calls codeAutomationExit (only when a tests path was given). */
  automationExit: Promise<AutomationExit>;
  drainConsole(): Promise<void>;
  /** Closes the browser and stops the server's process group; safe to call twice. */
  close(): Promise<void>;
}

/**
 * code-server with mloop loaded as the extension under development, and Chromium showing it.
 * Everything started here is stopped by close(), also when a later step of the start fails.
 */
export async function openWorkbench(opts: WorkbenchSessionOptions): Promise<WorkbenchSession> {
  mkdirSync(opts.resultsDir, { recursive: true });
  const consoleLog = join(opts.resultsDir, opts.consoleLogName);
  writeFileSync(consoleLog, '');

  const server = await startCodeServer({
    root: opts.root,
    workspace: opts.workspace,
    runDir: opts.runDir,
    extensionDevelopmentPath: opts.root,
    extensionTestsPath: opts.extensionTestsPath,
    ...(opts.workspaceTrust ? { workspaceTrust: opts.workspaceTrust } : {}),
  });
  let browser: Browser | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await browser?.close().catch(() => undefined);
      await server.stop();
    })();
    return closing;
  };

  try {
    browser = await launchChromium();
    const page = await newWorkbenchPage(browser);
    const pageConsole = collectConsole(page, (line) => {
      appendFileSync(consoleLog, `[${line.level}] ${line.text}\n`);
      opts.onConsoleLine?.(line);
    });
    page.on('pageerror', (error) => appendFileSync(consoleLog, `[pageerror] ${error.stack ?? error.message}\n`));

    let exit: (value: AutomationExit) => void = () => undefined;
    const automationExit = new Promise<AutomationExit>((done) => {
      exit = done;
    });
    // must exist before the workbench loads: it looks the hook up once, when the test run ends
    await page.exposeFunction('codeAutomationExit', (code: unknown, logs: unknown) => {
      exit({ code: typeof code === 'number' ? code : 1, logs: Array.isArray(logs) ? (logs as AutomationExit['logs']) : [] });
    });
    await page.goto(server.url);
    return { server, browser, page, automationExit, drainConsole: () => pageConsole.drain(), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Saves the workbench's own logs (window, extension host, …) handed over at exit, for post-mortems. */
export function saveAutomationLogs(dir: string, logs: AutomationExit['logs']): void {
  for (const log of logs) {
    const safeName = log.relativePath.replace(/[^A-Za-z0-9._-]+/g, '_');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, safeName), log.contents);
  }
}

/** The log files under `<user data>/logs/` of the workbench whose run folder is `runDir` that match `file`, joined. */
function workbenchLogs(runDir: string, file: RegExp): string {
  const logs = join(runDir, 'ud', 'logs');
  if (!existsSync(logs)) return '';
  return readdirSync(logs, { recursive: true })
    .map(String)
    .filter((name) => file.test(name))
    .map((name) => readFileSync(join(logs, name), 'utf8'))
    .join('\n');
}

/**
 * The last lines mloop wrote to its own log (the "mloop" output channel), as a failing e2e run prints them: the CI
 * machine keeps no files, and a scheduled check's error, say, never shows in the page.
 */
export function mloopLogTail(runDir: string, lines = 40): string {
  const all = workbenchLogs(runDir, /exthost\d*[\\/]mloop\.mloop[\\/]mloop\.log$/)
    .trimEnd()
    .split('\n');
  return `mloop's log, its last ${Math.min(all.length, lines)} lines:\n${all.slice(-lines).join('\n')}`;
}

/**
 * What the extension host of the workbench whose run folder is `runDir` has logged so far (the `exthost.log` files under `<user data>/logs/`): which extension activated on which event, and "Eager extensions activated" once the startup
 * activations (`*`, `workspaceContains:`) are done.
 */
export function extensionHostLog(runDir: string): string {
  return workbenchLogs(runDir, /exthost\d*[\\/]\w*exthost\.log$/);
}
