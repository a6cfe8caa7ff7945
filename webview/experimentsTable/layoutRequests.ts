import type { TableLayout } from '../../src/protocol/experimentsTableMessages';

/**
 * The user's layout changes against the host's loads. The host answers a change with a load that carries it, but a
 * load it built before the change reached it (the whole table read at last, a live row, a sort) still carries the
 * layout from before. Drawn as it is, such a load undid a column width the user had just set (the page draws widths
 * itself and the host answers a width with nothing), and the page's next change sent the old widths to be saved.
 */
export class LayoutRequests {
  /** The last layout the page sent that no load has carried yet. */
  private unanswered: TableLayout | undefined;

  /** The page sent this layout to the host. */
  asked(layout: TableLayout): void {
    this.unanswered = layout;
  }

  /**
   * The layout the user's next change applies to: the last one the page sent while no load has carried it yet (with
   * the widths drawn now), else what is drawn. A stale load draws the host's older columns, and a change built on those
   * (a width set, a column hidden) would post them back and undo the change the host had not yet answered.
   */
  base(current: TableLayout): TableLayout {
    const mine = this.unanswered;
    if (!mine) return current;
    const { widths: _sent, ...rest } = mine;
    return current.widths ? { ...rest, widths: current.widths } : rest;
  }

  /** The layout to draw a load with: its own, keeping the widths the user set while the host had not yet seen them. */
  drawn(loaded: TableLayout): TableLayout {
    const mine = this.unanswered;
    if (!mine || sameLayout(loaded, mine)) {
      this.unanswered = undefined;
      return loaded;
    }
    // the columns, their order and grouping are the load's (its rows follow them); the host answers those changes anyway
    const { widths: _older, ...rest } = loaded;
    return mine.widths ? { ...rest, widths: mine.widths } : rest;
  }
}

/** Equal layouts, however their keys were ordered (the host parses the page's layout and saves it in schema order). */
export function sameLayout(a: TableLayout, b: TableLayout): boolean {
  return canonical(a) === canonical(b);
}

function canonical(layout: TableLayout): string {
  const sorted = (record: Readonly<Record<string, unknown>> | undefined) => Object.entries(record ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return JSON.stringify([layout.grouping, layout.pinned, layout.order ?? [], layout.hidden ?? [], sorted(layout.aggregates), sorted(layout.widths)]);
}
