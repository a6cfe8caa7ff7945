/** Anything with a dispose(): a vscode.Disposable, an event subscription, an AbortController wrapper. */
export interface DisposableLike {
  dispose(): unknown;
}

/**
 * One registry of what an owner must release: register as you go, dispose once, newest first.
 * Replaces hand-rolled `disposables[]` loops; a late register after dispose releases at once.
 */
export class DisposableStore implements DisposableLike {
  private readonly items: DisposableLike[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  register<T extends DisposableLike>(item: T): T {
    if (this.disposed) item.dispose();
    else this.items.push(item);
    return item;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const errors: unknown[] = [];
    for (const item of this.items.splice(0).reverse()) {
      try {
        item.dispose();
      } catch (error) {
        errors.push(error); // one failing release must not leak the others
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several disposables failed');
  }
}
