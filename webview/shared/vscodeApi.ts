/** The handle VS Code gives a webview page (acquireVsCodeApi): messages out, state that survives hiding. */
interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** A page's typed side of its protocol: it can post only its own messages (src/protocol/<panel>Messages.ts). */
export interface PageApi<PageMessage extends { readonly type: string }, State> {
  post(message: PageMessage): void;
  getState(): State | undefined;
  setState(state: State): void;
}

/** Every page's protocol has this message (webviewErrorSchema in src/protocol/common.ts). */
interface PageError {
  readonly type: 'error';
  readonly message: string;
}

/** The page's api; uncaught errors are sent to the extension's log, where a user can find them. */
export function pageApi<PageMessage extends { readonly type: string }, State = never>(): PageApi<PageMessage | PageError, State> {
  const g = globalThis as { __mloopVsCodeApi?: VsCodeApi };
  // acquireVsCodeApi may be called once per page; every module shares this one handle
  const vscode = (g.__mloopVsCodeApi ??= acquireVsCodeApi());
  const api: PageApi<PageMessage | PageError, State> = {
    post: (message) => vscode.postMessage(message),
    getState: () => vscode.getState() as State | undefined,
    setState: (state) => vscode.setState(state),
  };
  const send = (message: string): void => api.post({ type: 'error', message: message.slice(0, 4000) });
  window.addEventListener('error', (e) => send(`${e.message} (${e.filename}:${e.lineno})`));
  window.addEventListener('unhandledrejection', (e) => send(String((e as PromiseRejectionEvent).reason)));
  return api;
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
