import { spawn } from 'node:child_process';
import type { OnAlert } from './configSchema';

/** A webhook that does not answer within this is a failed delivery, not a hung monitor. */
const WEBHOOK_TIMEOUT_MS = 15_000;
/** An alert command that runs longer than this is stopped. */
const COMMAND_TIMEOUT_MS = 5 * 60_000;

export interface AlertDelivery {
  readonly via: 'command' | 'webhook';
  readonly ok: boolean;
  /** What happened, safe to print: never the webhook URL (it may carry a token). */
  readonly detail: string;
}

export interface DeliverOptions {
  readonly model: string;
  readonly alertCount: number;
  /** The JSON the command reads on stdin and the webhook receives. */
  readonly payload: unknown;
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs `on_alert`: the command (in the user's shell, data only through stdin and the environment) and/or the webhook POST. */
export async function deliverAlert(onAlert: OnAlert, options: DeliverOptions): Promise<AlertDelivery[]> {
  const env = options.env ?? process.env;
  const body = `${JSON.stringify(options.payload)}\n`;
  const deliveries: Promise<AlertDelivery>[] = [];
  if (onAlert.command) deliveries.push(runCommand(onAlert.command, body, options, env));
  const url = onAlert.webhook_env ? env[onAlert.webhook_env] : onAlert.webhook;
  if (onAlert.webhook_env && !url)
    deliveries.push(
      Promise.resolve({ via: 'webhook', ok: false, detail: `the environment variable ${onAlert.webhook_env} (on_alert.webhook_env) is not set` }),
    );
  else if (url) deliveries.push(postWebhook(url, body, onAlert.webhook_env));
  return Promise.all(deliveries);
}

function runCommand(command: string, body: string, options: DeliverOptions, env: NodeJS.ProcessEnv): Promise<AlertDelivery> {
  return new Promise((done) => {
    // the user's own command from mloop.yaml runs in their shell; the alert reaches it only as stdin and variables
    const child = spawn(command, {
      shell: true,
      cwd: options.cwd,
      env: { ...env, MLOOP_ALERT_MODEL: options.model, MLOOP_ALERT_COUNT: String(options.alertCount) },
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: COMMAND_TIMEOUT_MS,
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 2000) stderr += chunk.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // a command that does not read its stdin is fine
    child.stdin.end(body);
    child.on('error', (error) => done({ via: 'command', ok: false, detail: `on_alert.command could not start: ${error.message}` }));
    child.on('close', (code, signal) =>
      done(
        code === 0
          ? { via: 'command', ok: true, detail: 'on_alert.command ran (exit 0)' }
          : {
              via: 'command',
              ok: false,
              detail: `on_alert.command ${signal ? `was stopped (${signal})` : `exited ${code}`}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`,
            },
      ),
    );
  });
}

async function postWebhook(url: string, body: string, fromEnv: string | undefined): Promise<AlertDelivery> {
  const shown = fromEnv ? `the webhook in $${fromEnv}` : `the webhook at ${safeHost(url)}`;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await response.arrayBuffer().catch(() => undefined);
    return response.ok
      ? { via: 'webhook', ok: true, detail: `${shown} answered ${response.status}` }
      : { via: 'webhook', ok: false, detail: `${shown} answered ${response.status} ${response.statusText}` };
  } catch (error) {
    const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${WEBHOOK_TIMEOUT_MS / 1000} s` : 'could not be reached';
    return { via: 'webhook', ok: false, detail: `${shown} ${reason}` };
  }
}

/** The host of a URL, never its path or query (where webhook tokens live). */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(an invalid URL)';
  }
}
