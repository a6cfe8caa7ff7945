import { Chart } from 'chart.js';
import { el } from './vscodeApi';

/** A theme colour of the workbench (CSS variable), or the fallback outside VS Code. */
export const css = (name: string, fallback: string): string => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

/** `#rrggbb` with an alpha, for bands and fills; other colour forms are returned as they are. */
export function withAlpha(colour: string, alpha: number): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(colour);
  if (!hex) return colour;
  const n = parseInt(hex[1]!, 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Charts take the workbench's text colour, borders and font (read again on each render: the theme can change). */
export function applyChartTheme(): void {
  Chart.defaults.color = css('--vscode-descriptionForeground', '#999');
  Chart.defaults.borderColor = css('--vscode-editorWidget-border', 'rgba(128,128,128,.3)');
  Chart.defaults.font.family = css('--vscode-font-family', 'sans-serif');
}

/** A titled card holding one chart's canvas (with an accessible name) and an optional note under it. */
export function chartCard(title: string, id: string, note?: string): { root: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = el('canvas', { id, role: 'img', 'aria-label': title }) as HTMLCanvasElement;
  return {
    root: el('div', { class: 'chart-card' }, el('h2', {}, title), el('div', { class: 'chart-box' }, canvas), note ? el('p', { class: 'note' }, note) : ''),
    canvas,
  };
}

const SERIES = [
  '--vscode-charts-blue',
  '--vscode-charts-orange',
  '--vscode-charts-green',
  '--vscode-charts-purple',
  '--vscode-charts-red',
  '--vscode-charts-yellow',
];
const SERIES_FALLBACK = ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'];
/** The i-th series colour of the workbench's chart palette (the same order in every panel). */
export const seriesColour = (i: number): string => css(SERIES[i % SERIES.length]!, SERIES_FALLBACK[i % SERIES_FALLBACK.length]!);
