/** One numbered schema step. Applied once, in its own transaction, in version order. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}
