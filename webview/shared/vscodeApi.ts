/** The handle VS Code gives a webview page (acquireVsCodeApi): messages out, state that survives hiding. */
interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

type Typed = { readonly type: string };
type Problem = { readonly type: 'problem'; readonly message: string };

/** One handler per host message type; a problem, unless handled, is shown in place of the page. */
export type HostHandlers<HostMessage extends Typed> = {
  readonly [K in Exclude<HostMessage['type'], 'problem'>]: (message: Extract<HostMessage, { type: K }>) => void;
} & { readonly problem?: (message: Problem) => void };

/** A page's typed side of its protocol (src/protocol/<panel>Messages.ts): it posts only its own messages. */
export interface PageApi<PageMessage extends Typed, HostMessage extends Typed, State> {
  post(message: PageMessage): void;
  getState(): State | undefined;
  setState(state: State): void;
  /** Routes each host message to its handler, then tells the host the page is ready (the host posts nothing before). */
  listen(handlers: HostHandlers<HostMessage>): void;
}

/** Every page's protocol has this message (webviewErrorSchema in src/protocol/common.ts). */
interface PageError {
  readonly type: 'error';
  readonly message: string;
}

/** The page's api; uncaught errors are sent to the extension's log, where a user can find them. */
export function pageApi<PageMessage extends Typed, HostMessage extends Typed, State = never>(): PageApi<PageMessage | PageError, HostMessage, State> {
  const g = globalThis as { __mloopVsCodeApi?: VsCodeApi };
  // acquireVsCodeApi may be called once per page; every module shares this one handle
  const vscode = (g.__mloopVsCodeApi ??= acquireVsCodeApi());
  const api: PageApi<PageMessage | PageError, HostMessage, State> = {
    post: (message) => vscode.postMessage(message),
    getState: () => vscode.getState() as State | undefined,
    setState: (state) => vscode.setState(state),
    listen: (handlers) => {
      const byType = handlers as unknown as Record<string, ((message: HostMessage) => void) | undefined>;
      window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
        const message = event.data;
        const handler = byType[message.type];
        if (handler) handler(message);
        else if (message.type === 'problem') showProblem((message as unknown as Problem).message);
      });
      api.post({ type: 'ready' } as PageMessage);
    },
  };
  const send = (message: string): void => api.post({ type: 'error', message: message.slice(0, 4000) });
  window.addEventListener('error', (e) => send(`${e.message} (${e.filename}:${e.lineno})`));
  window.addEventListener('unhandledrejection', (e) => send(String((e as PromiseRejectionEvent).reason)));
  return api;
}

/** Shows a problem the host reported in place of the page's content. */
function showProblem(text: string): void {
  document.getElementById('app')?.replaceChildren(el('p', { class: 'problem', role: 'alert' }, text));
}

/** Creates an element with text and attributes; pages never assign HTML strings built from data. */
export function el(tag: string, attrs: Record<string, string | boolean | undefined> = {}, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children);
  return node;
}
