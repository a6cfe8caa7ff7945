import * as vscode from 'vscode';
import type { z } from 'zod';
import { PANEL_KINDS, type PanelKind } from '../../shared/panels';
import { DisposableStore, type DisposableLike } from './disposableStore';
import { PanelSession, type PageDispatch, type PageHandlers, type TypedMessage } from './panelSession';
import { panelHtml, webviewOptions, type PanelDeps } from './webviewHtml';

/** Every host protocol can show a problem in the page instead of its content. */
export type ProblemMessage = { readonly type: 'problem'; readonly message: string };

/** What a panel shows when the workspace has no store yet (panels never create one). */
export const NO_STORE: ProblemMessage = { type: 'problem', message: 'There is no mloop store in this workspace yet.' };

/** What a panel's content may do with its panel: post typed messages, name it, own subscriptions. */
export interface PanelHost<HostMessage> {
  /** Posts to the page once it said ready; resolves false when it was not ready or not delivered. */
  post(message: HostMessage): Promise<boolean>;
  readonly ready: boolean;
  readonly visible: boolean;
  readonly disposed: boolean;
  set title(title: string);
  /** Loads again and posts it to a ready page (after a store change or a page's request). */
  reload(): Promise<void>;
  /** Released with the panel. */
  register<T extends DisposableLike>(item: T): T;
}

/** What is a panel's own: its data, its load and its handlers. The controller does the rest. */
export interface PanelContent<HostMessage, PageMessage extends TypedMessage, Target> {
  /** What the page shows now, posted by the controller on each ready and after retarget (undefined: nothing). */
  load(): Promise<HostMessage | undefined>;
  readonly handlers: PageHandlers<PageMessage>;
  /** A singleton panel shown again for another target (before it is revealed and reloaded). */
  retarget?(target: Target): void;
  dispose?(): void;
}

/** A panel declared once: the kind names its view type, first title and page bundle (src/shared/panels.ts). */
export interface PanelSpec<
  Deps extends PanelDeps,
  Target,
  HostMessage,
  PageMessage extends TypedMessage,
  Content extends PanelContent<HostMessage, PageMessage, Target>,
> {
  readonly kind: PanelKind;
  readonly pageMessages: z.ZodType<PageMessage>;
  /** Put before the error text when load() throws, e.g. "Cannot read the mloop store: ". */
  readonly problem?: string;
  /** A new panel for every show() (previews side by side); by default show() re-targets the open one. */
  readonly multiple?: true;
  /** Opens beside the active editor (the plots next to the table they select in), not over it. */
  readonly beside?: true;
  /** The target a restored panel shows, from the state its page saved; undefined closes it. */
  readonly revive?: (state: unknown, deps: Deps) => Target | undefined;
  readonly create: (host: PanelHost<HostMessage>, deps: Deps, target: Target) => Content;
}

/** Keeps the type parameters of a spec inferred from its fields. */
export function definePanel<
  Deps extends PanelDeps,
  Target,
  HostMessage,
  PageMessage extends TypedMessage,
  Content extends PanelContent<HostMessage, PageMessage, Target>,
>(
  spec: PanelSpec<Deps, Target, HostMessage | ProblemMessage, PageMessage, Content>,
): PanelSpec<Deps, Target, HostMessage | ProblemMessage, PageMessage, Content> {
  return spec;
}

type AnyController = PanelController<PanelDeps, unknown, unknown, TypedMessage, PanelContent<unknown, TypedMessage, unknown>>;

/** The open singleton panel of each kind. */
const openPanels = new Map<PanelKind, AnyController>();

/** Routes a message to the open panel of `kind` as if its page had sent it (validated the same way); for the integration tests. */
export async function receiveAsPage(kind: PanelKind, raw: unknown): Promise<boolean> {
  const controller = openPanels.get(kind);
  if (!controller) return false;
  await controller.receiveAsPage(raw);
  return true;
}

/** One webview panel's lifecycle: page, ready handshake, validation, typed posts, singleton slot, disposal. */
class PanelController<
  Deps extends PanelDeps,
  Target,
  HostMessage,
  PageMessage extends TypedMessage,
  Content extends PanelContent<HostMessage, PageMessage, Target>,
> implements PanelHost<HostMessage>
{
  readonly content: Content;
  private readonly name: string;
  private readonly session: PanelSession<HostMessage, PageMessage>;
  private readonly disposables = new DisposableStore();
  private readonly page: PageDispatch<PageMessage>;

  constructor(
    private readonly panel: vscode.WebviewPanel,
    readonly spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>,
    readonly deps: Deps,
    target: Target,
  ) {
    this.name = `${spec.kind} panel`;
    if (!spec.multiple) openPanels.set(spec.kind, this as unknown as AnyController);
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mloop.svg');
    this.session = new PanelSession({ name: this.name, pageMessages: spec.pageMessages, log: deps.log, deliver: (m) => panel.webview.postMessage(m) });
    this.content = spec.create(this, deps, target);
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, spec.kind, panel.title);
    const page: PageDispatch<PageMessage> = (this.page = { load: () => this.load(), handlers: this.content.handlers });
    this.register(panel.onDidDispose(() => this.dispose()));
    // a hidden page is discarded (retainContextWhenHidden: false); it says `ready` again when shown
    this.register(panel.onDidChangeViewState(() => panel.visible || this.session.reset()));
    this.register(panel.webview.onDidReceiveMessage((raw: unknown) => void this.session.receive(raw, page)));
  }

  post(message: HostMessage): Promise<boolean> {
    return this.session.post(message);
  }

  receiveAsPage(raw: unknown): Promise<void> {
    return this.session.receive(raw, this.page);
  }

  get ready(): boolean {
    return this.session.ready;
  }

  get visible(): boolean {
    return !this.disposables.isDisposed && this.panel.visible;
  }

  get disposed(): boolean {
    return this.disposables.isDisposed;
  }

  set title(title: string) {
    this.panel.title = title;
  }

  register<T extends DisposableLike>(item: T): T {
    return this.disposables.register(item);
  }

  reload(): Promise<void> {
    return this.load();
  }

  /** Posts what the content shows; a failure is logged and shown in the page instead. */
  private async load(): Promise<void> {
    let message: HostMessage | undefined;
    try {
      message = await this.content.load();
    } catch (error) {
      const text = (error as Error).message;
      this.deps.log.error(`${this.name}: ${text}`);
      message = { type: 'problem', message: `${this.spec.problem ?? ''}${text}` } satisfies ProblemMessage as HostMessage;
    }
    if (message !== undefined) await this.post(message);
  }

  /** Shown again: the content takes the new target, the panel comes forward, a ready page reloads. */
  retarget(target: Target): void {
    this.content.retarget?.(target);
    this.panel.reveal();
    if (this.session.ready) void this.load();
  }

  dispose(): void {
    if (this.disposables.isDisposed) return;
    if (openPanels.get(this.spec.kind) === (this as unknown)) openPanels.delete(this.spec.kind);
    this.session.reset();
    this.content.dispose?.();
    this.disposables.dispose();
    this.panel.dispose();
  }
}

/** Opens a panel, or re-targets the open singleton; a singleton of another store (other deps) makes way. */
export function showPanel<
  Deps extends PanelDeps,
  Target,
  HostMessage,
  PageMessage extends TypedMessage,
  Content extends PanelContent<HostMessage, PageMessage, Target>,
>(spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>, deps: Deps, target: Target): Content {
  const existing = spec.multiple ? undefined : (openPanels.get(spec.kind) as PanelController<Deps, Target, HostMessage, PageMessage, Content> | undefined);
  if (existing && existing.deps === deps) {
    existing.retarget(target);
    return existing.content;
  }
  existing?.dispose();
  const { viewType, title } = PANEL_KINDS[spec.kind];
  const column = spec.beside ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
  const panel = vscode.window.createWebviewPanel(viewType, title, column, webviewOptions(deps.extensionUri));
  return new PanelController(panel, spec, deps, target).content;
}

/** Restores a panel VS Code kept across a reload, from the state its page saved. */
export function revivePanel<
  Deps extends PanelDeps,
  Target,
  HostMessage,
  PageMessage extends TypedMessage,
  Content extends PanelContent<HostMessage, PageMessage, Target>,
>(spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>, deps: Deps, panel: vscode.WebviewPanel, state: unknown): Content | undefined {
  const target = spec.revive?.(state, deps);
  if (target === undefined) {
    panel.dispose();
    return undefined;
  }
  if (!spec.multiple) openPanels.get(spec.kind)?.dispose();
  panel.webview.options = webviewOptions(deps.extensionUri);
  return new PanelController(panel, spec, deps, target).content;
}

/** The open singleton panel of a spec's kind, if any (tests and cross-panel links read it). */
export function activePanel<
  Deps extends PanelDeps,
  Target,
  HostMessage,
  PageMessage extends TypedMessage,
  Content extends PanelContent<HostMessage, PageMessage, Target>,
>(spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>): Content | undefined {
  return openPanels.get(spec.kind)?.content as Content | undefined;
}
