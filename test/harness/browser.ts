import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import { chromium } from 'playwright-core';
import type { Browser, ConsoleMessage, FrameLocator, Locator, Page } from 'playwright-core';
import { pollUntil } from './poll';
import type { PollOptions } from './poll';

/** Debian's chromium; Playwright's own browser download is not reachable here. */
export const CHROMIUM_PATH = process.env.MLOOP_CHROMIUM ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** A page sized like a laptop screen so screenshots show the side bar and an editor side by side. */
export async function newWorkbenchPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  return context.newPage();
}

/** Formats console arguments the way Node would print them: the workbench forwards printf-style calls. */
export function formatConsoleArgs(values: readonly unknown[]): string {
  return format(...values);
}

/** The workbench's logger prints "%c INFO" / "%c  ERR" plus a CSS argument before the message itself. */
const LOG_LEVEL_PREFIX = /^%c\s*([A-Z]+)\s*$/;

export interface ConsoleLine {
  /** Logger level ("INFO", "ERR", …) when the message came through the workbench logger, else the console type. */
  level: string;
  text: string;
}

/**
 * Delivers the page's console messages as formatted lines, in order (argument values are fetched
 * asynchronously, so a promise chain keeps them from overtaking each other). `drain()` waits for
 * every line seen so far.
 */
export function collectConsole(page: Page, onLine: (line: ConsoleLine) => void): { drain(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  page.on('console', (message: ConsoleMessage) => {
    chain = chain
      .then(async () => {
        const values: unknown[] = await Promise.all(message.args().map((arg) => arg.jsonValue().catch(() => '[unserializable]')));
        let level: string = message.type();
        const prefix = typeof values[0] === 'string' ? LOG_LEVEL_PREFIX.exec(values[0]) : null;
        if (prefix !== null) {
          level = prefix[1] ?? level;
          values.splice(0, 2);
        }
        const text = values.length > 0 ? formatConsoleArgs(values) : message.text();
        onLine({ level, text });
      })
      .catch(() => undefined);
  });
  return { drain: () => chain };
}

export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Waits until the workbench has laid out its activity bar (the first sign the UI is usable). */
export async function waitForWorkbench(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.locator('.monaco-workbench .part.activitybar').first().waitFor({ state: 'visible', timeout: timeoutMs });
}

export function activityBarItem(page: Page, title: string): Locator {
  // case-insensitive: the container is titled MLOOP (VS Code would show a lower-case title capitalised, "Mloop")
  return page.locator(`.part.activitybar [aria-label^="${title}" i]`).first();
}

/**
 * The few browser globals the in-page icon probe uses. This project compiles without DOM types
 * (src/core must not see them), so the probe declares what it touches.
 */
interface PageGlobals {
  getComputedStyle(element: unknown): { getPropertyValue(name: string): string };
  Image: new () => { src: string; decode(): Promise<void> };
  document: {
    createElement(tag: 'canvas'): {
      width: number;
      height: number;
      getContext(kind: '2d'): {
        drawImage(image: unknown, x: number, y: number, w: number, h: number): void;
        getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
      } | null;
    };
  };
  requestAnimationFrame(callback: () => void): number;
}

/**
 * Waits until a contributed activity-bar icon can paint: its element exists before the extension's
 * SVG has loaded, and a screenshot taken then shows an empty slot. The icon is a CSS mask, so the
 * page loads that image, counts its opaque pixels, and lets two frames pass so the mask is drawn.
 */
export async function waitForIconPainted(icon: Locator, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    async () => {
      const opaquePixels = await icon.evaluate(async (element) => {
        const page = globalThis as unknown as PageGlobals;
        const style = page.getComputedStyle(element);
        const mask = style.getPropertyValue('mask-image') || style.getPropertyValue('-webkit-mask-image');
        const url = /url\("?([^")]+)"?\)/.exec(mask)?.[1];
        if (url === undefined) return 0;
        const image = new page.Image();
        image.src = url;
        await image.decode();
        const canvas = page.document.createElement('canvas');
        canvas.width = 24;
        canvas.height = 24;
        const context = canvas.getContext('2d');
        if (context === null) return 0;
        context.drawImage(image, 0, 0, 24, 24);
        const pixels = context.getImageData(0, 0, 24, 24).data;
        let opaque = 0;
        for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) opaque += 1;
        await new Promise<void>((done) => page.requestAnimationFrame(() => page.requestAnimationFrame(done)));
        return opaque;
      });
      return opaquePixels > 0;
    },
    { what: 'the activity-bar icon image to load and show visible pixels', timeoutMs },
  );
}

/**
 * Opens a view container from the activity bar unless its side bar is already showing. Clicking the icon of
 * the container being shown hides it, and a reloading window restores its side bar a moment after the icon
 * appears, so a click may close what was opening: the icon is clicked again (3 s apart) until the title shows.
 */
export async function openViewContainer(page: Page, title: string, timeoutMs = 30_000): Promise<void> {
  const item = activityBarItem(page, title);
  await item.waitFor({ state: 'visible', timeout: timeoutMs });
  const sideBarTitle = page.locator('.part.sidebar .composite.title h2').first();
  const showing = async (): Promise<boolean> =>
    (await sideBarTitle.isVisible()) && (await sideBarTitle.innerText()).trim().toLowerCase() === title.toLowerCase();
  let lastClick = 0;
  await pollUntil(
    async () => {
      if (await showing()) return true;
      if (Date.now() - lastClick >= 3_000) {
        lastClick = Date.now();
        await item.click();
        // park the pointer over the editor area: the icon's hover tooltip would cover the side bar in screenshots
        await page.mouse.move(900, 500);
      }
      return undefined;
    },
    { what: `the side bar to show "${title}"`, timeoutMs },
  );
}

export function viewPane(page: Page, viewName: string): Locator {
  return page
    .locator('.part.sidebar .pane')
    .filter({ has: page.locator('.pane-header h3.title', { hasText: new RegExp(`^${escapeRegExp(viewName)}$`, 'i') }) })
    .first();
}

/** Titles of the view headers in the side bar, in order. */
export async function viewHeaders(page: Page): Promise<string[]> {
  const titles = await page.locator('.part.sidebar .pane-header h3.title').allInnerTexts();
  return titles.map((t) => t.trim());
}

/** Expands a collapsed view pane so its body (tree or welcome content) renders. */
export async function expandView(page: Page, viewName: string): Promise<Locator> {
  const pane = viewPane(page, viewName);
  const header = pane.locator('.pane-header').first();
  await header.waitFor({ state: 'visible' });
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  await pollUntil(async () => (await header.getAttribute('aria-expanded')) === 'true', {
    what: `view "${viewName}" to expand`,
  });
  return pane;
}

/**
 * Polls `probe` while keeping a tree row open: the row is clicked whenever it shows collapsed. A click landing while
 * the view re-renders (a store change, Refresh or a settings change refreshes it) can be lost, and the rows under it
 * never come; a single click and a wait would then time out.
 */
export async function pollExpanded<T>(row: Locator, probe: () => Promise<T | undefined | false>, opts: PollOptions): Promise<T> {
  return pollUntil(
    async () => {
      if ((await row.getAttribute('aria-expanded', { timeout: 1_000 }).catch(() => null)) === 'false') {
        await row.click({ timeout: 2_000 }).catch(() => undefined);
        return false;
      }
      return probe();
    },
    { intervalMs: 500, ...opts },
  );
}

/** Welcome text of a view, or '' when the view shows a tree instead. */
export async function welcomeText(page: Page, viewName: string): Promise<string> {
  const welcome = viewPane(page, viewName).locator('.welcome-view-content');
  if ((await welcome.count()) === 0 || !(await welcome.first().isVisible())) return '';
  return (await welcome.first().innerText()).trim();
}

/** Labels of buttons in a view's welcome content. */
export async function welcomeButtons(page: Page, viewName: string): Promise<string[]> {
  const buttons = viewPane(page, viewName).locator('.welcome-view-content .monaco-button');
  return (await buttons.allInnerTexts()).map((t) => t.trim());
}

/** Visible rows of a view's tree, as their text (label and description). */
export async function treeRows(page: Page, viewName: string): Promise<string[]> {
  const rows = viewPane(page, viewName).locator('[role="treeitem"]');
  return (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

/**
 * Opens the palette (unless it is open), types `>title` and tells whether the entry is listed. The palette
 * lists only commands known when it opened (an extension may still be registering), so a missing entry
 * closes it again for the caller's next attempt.
 */
async function paletteEntryListed(page: Page, title: string): Promise<boolean> {
  const input = page.locator('.quick-input-widget input');
  if (!(await input.isVisible())) {
    // a webview that kept the focus can swallow F1: give it back to the workbench
    await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { blur?: () => void } | null } }).document.activeElement?.blur?.());
    await page.keyboard.press('F1');
  }
  await input.waitFor({ state: 'visible', timeout: 5_000 });
  // an input shown but not taking text (a widget closing, another quick input) is closed, and the next look opens the palette
  await input.fill(`>${title}`, { timeout: 5_000 }).catch(async (error: Error) => {
    await page.keyboard.press('Escape');
    throw error;
  });
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  const found = await row.waitFor({ state: 'visible', timeout: 3_000 }).then(
    () => true,
    () => false,
  );
  if (!found) await page.keyboard.press('Escape');
  return found;
}

/**
 * Starts a command by its palette title and leaves what it asks next (a pick, an input box) to the
 * caller: reopens the palette and types the title until the entry is listed, then presses Enter.
 */
export async function startFromPalette(page: Page, title: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await pollUntil(
    async () => {
      if (!(await input.isVisible())) {
        // a webview that kept the focus (e.g. after its neighbour tab closed) can swallow F1: give it back to the workbench
        await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { blur?: () => void } | null } }).document.activeElement?.blur?.());
        await page.keyboard.press('F1');
      }
      await input.fill(`>${title}`, { timeout: 5_000 });
      return page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().isVisible();
    },
    { what: `the palette entry "${title}"`, timeoutMs: 20_000, intervalMs: 500 },
  );
  await page.keyboard.press('Enter');
}

/**
 * Chooses a row of the open quick pick: types `filter` into its box, then presses Enter only once the focused
 * row is the one meant (`row`; by default the row containing `filter`). Typing re-sorts the rows and moves the
 * focus, and several rows can contain the text ("train" and "train-protocol", "weather-clf v1" and "v2"):
 * Enter pressed as soon as the row is listed runs whichever row has the focus then.
 */
export async function chooseQuickPickRow(page: Page, filter: string, row: string | RegExp = filter, timeoutMs = 20_000): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  const focused = page.locator('.quick-input-widget .monaco-list-row.focused');
  const matches = (text: string): boolean => (typeof row === 'string' ? text.includes(row) : row.test(text));
  await pollUntil(
    async () => {
      if ((await input.inputValue({ timeout: 2_000 })) !== filter) await input.fill(filter, { timeout: 2_000 });
      const label = await focused
        .first()
        .getAttribute('aria-label', { timeout: 1_000 })
        .catch(() => null);
      if (label === null) return false;
      if (matches(label)) return true;
      // the row is listed below the focused one, as a user would reach it
      const listed = await page.locator('.quick-input-widget .monaco-list-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label') ?? ''));
      if (listed.some(matches)) await input.press('ArrowDown');
      return false;
    },
    { what: `the quick pick row ${String(row)} to have the focus`, timeoutMs, intervalMs: 250 },
  );
  await input.press('Enter');
}

/** Runs a command by its palette title, e.g. "mloop: Initialize Project", reopening the palette until the entry shows up. */
export async function runPaletteCommand(page: Page, title: string, timeoutMs = 20_000): Promise<void> {
  await pollUntil(() => paletteEntryListed(page, title), { what: `the command palette entry "${title}"`, timeoutMs, intervalMs: 500 });
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget input').waitFor({ state: 'hidden', timeout: 10_000 });
}

/**
 * Runs a command by its palette title when its next step is another quick input (a pick, an input
 * box) shown in the same widget: after Enter it waits for `followUp` (a selector, e.g. the pick's
 * placeholder) to show, where runPaletteCommand waits for the widget to close and so races with the
 * follow-up. Reopens the palette until the entry is listed and the follow-up shows.
 */
export async function runPaletteCommandUntil(page: Page, title: string, followUp: string, options: { what: string; timeoutMs?: number }): Promise<void> {
  await pollUntil(
    async () => {
      if (!(await paletteEntryListed(page, title))) return false;
      await page.keyboard.press('Enter');
      return page
        .locator(followUp)
        .waitFor({ state: 'visible', timeout: 10_000 })
        .then(
          () => true,
          () => false,
        );
    },
    { what: options.what, timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 500 },
  );
}

/** File names of the open editor tabs (the tab shows name and extension in separate spans). */
export async function editorTabs(page: Page): Promise<string[]> {
  const tabs = page.locator('.part.editor .tabs-container .tab[data-resource-name]');
  return tabs.evaluateAll((elements) => elements.map((e) => e.getAttribute('data-resource-name') ?? ''));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The page of the shown mloop panel whose document is titled `title` (its kind's title in PANEL_KINDS, which
 * panelHtml writes into <title>; a revived panel keeps the tab's longer title, so a prefix is enough).
 * `frameLocator('iframe.webview')` is strict and fails while another panel's page is in the DOM too (a panel
 * beside, one still closing), and `.first()` of the visible ones may take that other page: this picks the
 * outer frame by its webview id, so every later look goes to the same page.
 */
export async function webviewFrame(page: Page, title: string, timeoutMs = 30_000): Promise<FrameLocator> {
  const outer = page.locator('iframe.webview:visible');
  const name = await pollUntil(
    async () => {
      const n = await outer.count();
      for (let i = 0; i < n; i++) {
        const id = await outer
          .nth(i)
          .getAttribute('name', { timeout: 1_000 })
          .catch(() => null);
        if (id === null) continue;
        const shown = await page
          .frameLocator(`iframe.webview[name="${id}"]`)
          .frameLocator('iframe#active-frame')
          .locator('head > title')
          .textContent({ timeout: 1_000 })
          .catch(() => null);
        if (shown?.startsWith(title)) return id;
      }
      return undefined;
    },
    { what: `a shown webview panel titled "${title}"`, timeoutMs, intervalMs: 250 },
  );
  return page.frameLocator(`iframe.webview[name="${name}"]`).frameLocator('iframe#active-frame');
}

/** Painted (non-transparent) pixels of a canvas in a webview; 0 while it is not there yet. */
export async function paintedPixels(canvas: Locator): Promise<number> {
  if ((await canvas.count()) === 0) return 0;
  // typed structurally: the test project has no DOM lib
  type Canvas = {
    width: number;
    height: number;
    getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
  };
  return canvas.evaluate((c: Canvas) => {
    const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; data && i < data.length; i += 4) if (data[i]! > 0) painted++;
    return painted;
  });
}

/**
 * Right-clicks a tree row and runs one entry of its context menu. The menu acts on keyboard activation of
 * the focused entry (a synthetic click only highlights it), so Enter is pressed only once the entry shows
 * as focused: under load the hover may land before the menu has laid out, and Enter would then run
 * whichever entry has the focus.
 */
export async function runContextMenuEntry(page: Page, row: Locator, entry: string): Promise<void> {
  await row.click({ button: 'right' });
  const item = page.locator('.context-view .action-item', { hasText: entry }).first();
  await item.waitFor({ state: 'visible', timeout: 10_000 });
  const focused = page.locator('.context-view .action-item.focused', { hasText: entry });
  await pollUntil(
    async () => {
      await item.hover();
      return (await focused.count()) > 0;
    },
    { what: `the context menu entry "${entry}" to take the focus`, timeoutMs: 10_000, intervalMs: 250 },
  );
  await page.keyboard.press('Enter');
}

/**
 * What the workbench shows, as text for a failed step's log (the CI machine's screenshots are not kept):
 * editor tabs, open notifications, whether a quick input or menu is up, and each webview's text.
 */
export async function describeWorkbench(page: Page): Promise<string> {
  const lines: string[] = [];
  const texts = async (selector: string): Promise<string[]> =>
    (
      await page
        .locator(selector)
        .allInnerTexts()
        .catch(() => [] as string[])
    )
      .map((t) => t.replace(/\s+/g, ' ').trim())
      .filter(Boolean);
  lines.push(`tabs: ${JSON.stringify(await texts('.part.editor .tabs-container .tab'))}`);
  lines.push(`active tab: ${JSON.stringify(await texts('.part.editor .tabs-container .tab.active'))}`);
  lines.push(`notifications: ${JSON.stringify(await texts('.notifications-toasts .notification-toast'))}`);
  lines.push(`quick input: ${JSON.stringify(await texts('.quick-input-widget:visible'))}`);
  lines.push(`context menu: ${JSON.stringify(await texts('.context-view:visible .action-item'))}`);
  const webviews = await page
    .locator('iframe.webview')
    .count()
    .catch(() => 0);
  lines.push(`webview frames: ${webviews}`);
  for (let i = 0; i < webviews; i++) {
    const inner = page.frameLocator('iframe.webview').nth(i).frameLocator('iframe#active-frame');
    const text = await inner
      .locator('body')
      .innerText({ timeout: 2_000 })
      .catch((error: Error) => `(unreadable: ${error.message.split('\n')[0]})`);
    // the page's title names the panel (webviewFrame picks by it); hidden frames are listed too
    const title = await inner
      .locator('head > title')
      .textContent({ timeout: 1_000 })
      .catch(() => '?');
    const shown = await page
      .locator('iframe.webview')
      .nth(i)
      .isVisible()
      .catch(() => false);
    lines.push(`webview ${i} "${title}"${shown ? '' : ' (hidden)'}: ${JSON.stringify(text.replace(/\s+/g, ' ').trim().slice(0, 600))}`);
  }
  return lines.join('\n');
}
