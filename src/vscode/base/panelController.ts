import * as vscode from 'vscode';
import type { z } from 'zod';
import { PANEL_KINDS, type PanelKind } from '../../shared/panels';
import { DisposableStore, type DisposableLike } from './disposableStore';
import { PanelSession, type PageDispatch, type TypedMessage } from './panelSession';
import { panelHtml, webviewOptions, type PanelDeps } from './webviewHtml';

/** What a panel's content may do with its panel: post typed messages, name it, own subscriptions. */
export interface PanelHost<HostMessage> {
  /** Posts to the page once it said ready; resolves false when it was not ready or not delivered. */
  post(message: HostMessage): Promise<boolean>;
  readonly ready: boolean;
  readonly visible: boolean;
  readonly disposed: boolean;
  set title(title: string);
  /** Released with the panel. */
  register<T extends DisposableLike>(item: T): T;
}

/** What is a panel's own: its data, its load and its handlers. The controller does the rest. */
export interface PanelContent<PageMessage extends TypedMessage, Target> extends PageDispatch<PageMessage> {
  /** A singleton panel shown again for another target (before it is revealed and reloaded). */
  retarget?(target: Target): void;
  dispose?(): void;
}

/** A panel declared once: the kind names its view type and page bundle (src/shared/panels.ts). */
export interface PanelSpec<Deps extends PanelDeps, Target, HostMessage, PageMessage extends TypedMessage, Content extends PanelContent<PageMessage, Target>> {
  readonly kind: PanelKind;
  /** Log prefix, e.g. "metrics panel". */
  readonly name: string;
  readonly title: (target: Target) => string;
  readonly pageMessages: z.ZodType<PageMessage>;
  /** One panel of this kind at a time, re-targeted by show(); false opens a new panel each time. */
  readonly singleton: boolean;
  /** The target a restored panel shows, from the state its page saved; undefined closes it. */
  readonly revive?: (state: unknown, deps: Deps) => Target | undefined;
  readonly create: (host: PanelHost<HostMessage>, deps: Deps, target: Target) => Content;
}

/** Keeps the type parameters of a spec inferred from its fields. */
export function definePanel<Deps extends PanelDeps, Target, HostMessage, PageMessage extends TypedMessage, Content extends PanelContent<PageMessage, Target>>(
  spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>,
): PanelSpec<Deps, Target, HostMessage, PageMessage, Content> {
  return spec;
}

/** The open singleton panel of each kind. */
const openPanels = new Map<PanelKind, PanelController<PanelDeps, unknown, unknown, TypedMessage, PanelContent<TypedMessage, unknown>>>();

/** One webview panel's lifecycle: page, ready handshake, validation, typed posts, singleton slot, disposal. */
class PanelController<Deps extends PanelDeps, Target, HostMessage, PageMessage extends TypedMessage, Content extends PanelContent<PageMessage, Target>>
  implements PanelHost<HostMessage>
{
  readonly content: Content;
  private readonly session: PanelSession<HostMessage, PageMessage>;
  private readonly disposables = new DisposableStore();

  constructor(
    private readonly panel: vscode.WebviewPanel,
    readonly spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>,
    readonly deps: Deps,
    target: Target,
  ) {
    if (spec.singleton) openPanels.set(spec.kind, this as never);
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'mloop.svg');
    panel.title = spec.title(target);
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, spec.kind, panel.title);
    this.session = new PanelSession({ name: spec.name, pageMessages: spec.pageMessages, log: deps.log, deliver: (m) => panel.webview.postMessage(m) });
    this.content = spec.create(this, deps, target);
    this.register(panel.onDidDispose(() => this.dispose()));
    // a hidden page is discarded (retainContextWhenHidden: false); it says `ready` again when shown
    this.register(panel.onDidChangeViewState(() => panel.visible || this.session.reset()));
    this.register(panel.webview.onDidReceiveMessage((raw: unknown) => void this.session.receive(raw, this.content)));
  }

  post(message: HostMessage): Promise<boolean> {
    return this.session.post(message);
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

  /** Shown again: the content takes the new target, the panel comes forward, a ready page reloads. */
  retarget(target: Target): void {
    this.content.retarget?.(target);
    this.panel.reveal();
    if (this.session.ready) void this.content.load();
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
export function showPanel<Deps extends PanelDeps, Target, HostMessage, PageMessage extends TypedMessage, Content extends PanelContent<PageMessage, Target>>(
  spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>,
  deps: Deps,
  target: Target,
): Content {
  const existing = spec.singleton ? (openPanels.get(spec.kind) as PanelController<Deps, Target, HostMessage, PageMessage, Content> | undefined) : undefined;
  if (existing && existing.deps === deps) {
    existing.retarget(target);
    return existing.content;
  }
  existing?.dispose();
  const panel = vscode.window.createWebviewPanel(PANEL_KINDS[spec.kind].viewType, spec.title(target), vscode.ViewColumn.Active, webviewOptions(deps.extensionUri));
  return new PanelController(panel, spec, deps, target).content;
}

/** Restores a panel VS Code kept across a reload, from the state its page saved. */
export function revivePanel<Deps extends PanelDeps, Target, HostMessage, PageMessage extends TypedMessage, Content extends PanelContent<PageMessage, Target>>(
  spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>,
  deps: Deps,
  panel: vscode.WebviewPanel,
  state: unknown,
): Content | undefined {
  const target = spec.revive?.(state, deps);
  if (target === undefined) {
    panel.dispose();
    return undefined;
  }
  if (spec.singleton) openPanels.get(spec.kind)?.dispose();
  panel.webview.options = webviewOptions(deps.extensionUri);
  return new PanelController(panel, spec, deps, target).content;
}

/** The open singleton panel of a spec's kind, if any (tests and cross-panel links read it). */
export function activePanel<Deps extends PanelDeps, Target, HostMessage, PageMessage extends TypedMessage, Content extends PanelContent<PageMessage, Target>>(
  spec: PanelSpec<Deps, Target, HostMessage, PageMessage, Content>,
): Content | undefined {
  return openPanels.get(spec.kind)?.content as Content | undefined;
}
