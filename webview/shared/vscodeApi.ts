/** The handle VS Code gives a webview page: messages to the host and state that survives hiding. */
export interface VsCodeApi<State> {
  postMessage(message: unknown): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi<State>(): VsCodeApi<State>;

/** May be called once per page; every module shares this one handle. */
export function vscodeApi<State>(): VsCodeApi<State> {
  const g = globalThis as { __mloopVsCodeApi?: unknown };
  g.__mloopVsCodeApi ??= acquireVsCodeApi<State>();
  return g.__mloopVsCodeApi as VsCodeApi<State>;
}

/** Sends uncaught errors to the extension's log, where a user can find them. */
export function reportErrors(api: VsCodeApi<unknown>): void {
  const send = (message: string): void => api.postMessage({ type: 'error', message: message.slice(0, 4000) });
  window.addEventListener('error', (e) => send(`${e.message} (${e.filename}:${e.lineno})`));
  window.addEventListener('unhandledrejection', (e) => send(String((e as PromiseRejectionEvent).reason)));
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

/** A compact number for tables: integers as they are, others to 6 significant digits. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return 'NaN';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-4 || abs >= 1e9) ? value.toExponential(4) : String(Number(value.toPrecision(6)));
}
