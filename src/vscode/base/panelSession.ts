import type { z } from 'zod';
import { parseWebviewMessage } from '../../protocol/common';

/** Every message of a panel's protocol is a discriminated union on `type`. */
export interface TypedMessage {
  readonly type: string;
}

/** The two page messages every panel answers the same way (see src/protocol/common.ts). */
type SessionMessageType = 'ready' | 'error';

/** One handler per page message type the panel owns: a missing one is a type error, not a silent drop. */
export type PageHandlers<PageMessage extends TypedMessage> = {
  readonly [K in Exclude<PageMessage['type'], SessionMessageType>]: (message: Extract<PageMessage, { type: K }>) => unknown;
};

/** What a panel's content gives the session: what to send on ready, and its handlers. */
export interface PageDispatch<PageMessage extends TypedMessage> {
  /** Sends the page everything it shows; called on each `ready` (first show, shown again, revived). */
  load(): unknown;
  readonly handlers: PageHandlers<PageMessage>;
}

export interface PanelLog {
  warn(message: string): void;
  error(message: string): void;
}

export interface PanelSessionOptions<HostMessage, PageMessage extends TypedMessage> {
  /** e.g. "metrics panel": prefixes every log line. */
  readonly name: string;
  /** The zod schema of everything the page may send. */
  readonly pageMessages: z.ZodType<PageMessage>;
  readonly log: PanelLog;
  /** Hands a message to the page (webview.postMessage); resolves false when it was not delivered. */
  readonly deliver: (message: HostMessage) => PromiseLike<boolean>;
}

/**
 * The host's half of one page's conversation, free of vscode so it is unit-tested in Node:
 * every incoming message is validated, nothing is posted before the page says `ready`, and a
 * page that was discarded (hidden) must say `ready` again before it is posted to.
 */
export class PanelSession<HostMessage, PageMessage extends TypedMessage> {
  private isReady = false;

  constructor(private readonly options: PanelSessionOptions<HostMessage, PageMessage>) {}

  get ready(): boolean {
    return this.isReady;
  }

  /** The page's context is gone (hidden with retainContextWhenHidden false, or closed). */
  reset(): void {
    this.isReady = false;
  }

  /** Validates one raw message and routes it; an invalid one is logged once and dropped. */
  async receive(raw: unknown, page: PageDispatch<PageMessage>): Promise<void> {
    const { name, log } = this.options;
    const message = parseWebviewMessage(this.options.pageMessages, raw, (m) => log.warn(`${name}: ${m}`));
    if (!message) return;
    if (message.type === 'ready') {
      this.isReady = true;
      await page.load();
      return;
    }
    if (message.type === 'error') {
      log.error(`${name} page: ${(message as unknown as { message: string }).message}`);
      return;
    }
    const handler = (page.handlers as unknown as Record<string, ((m: PageMessage) => unknown) | undefined>)[message.type];
    if (handler) await handler(message);
    else log.warn(`${name}: no handler for page message "${message.type}"`);
  }

  /** Posts to a ready page; false when the page is not ready (it will ask again) or delivery failed. */
  async post(message: HostMessage): Promise<boolean> {
    if (!this.isReady) return false;
    try {
      return await this.options.deliver(message);
    } catch (error) {
      this.options.log.warn(`${this.options.name}: post failed: ${String(error)}`);
      return false;
    }
  }
}
