import type { Serializable } from 'node:child_process';
import type { GatewayCall, GatewayPeer } from './server';

/** The IPC channel of a forked process: the child as the primary sees it, or `process` in the child. */
export interface IpcChannel {
  send?: ((message: Serializable) => boolean) | undefined;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  once(event: 'disconnect' | 'exit', listener: () => void): unknown;
}

type Envelope =
  | { readonly mloop: 'call'; readonly id: number; readonly call: GatewayCall }
  | { readonly mloop: 'reply'; readonly id: number; readonly value?: unknown; readonly error?: string };

/**
 * Calls over a process's IPC channel, answered by `answer` on the other side: each call waits for its reply, and is
 * rejected after `timeoutMs` or when the channel closes (the other process is gone).
 */
export function ipcPeer(channel: IpcChannel, answer: (call: GatewayCall) => Promise<unknown>, timeoutMs: number): GatewayPeer {
  const pending = new Map<number, { done: (value: unknown) => void; fail: (error: Error) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  let closed = false;
  const close = (): void => {
    closed = true;
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.fail(new Error('the gateway process on the other end of the channel is gone'));
    }
  };
  channel.once('disconnect', close);
  channel.once('exit', close);
  channel.on('message', (message) => {
    const m = message as Envelope | null;
    if (m?.mloop === 'reply') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error !== undefined) p.fail(new Error(m.error));
      else p.done(m.value);
    } else if (m?.mloop === 'call') {
      answer(m.call).then(
        (value) => reply({ mloop: 'reply', id: m.id, value }),
        (error: unknown) => reply({ mloop: 'reply', id: m.id, error: (error as Error).message }),
      );
    }
  });
  const reply = (envelope: Envelope): void => {
    if (!closed && channel.send) {
      try {
        channel.send(envelope);
      } catch {
        // the channel closed meanwhile: the caller's side rejects the call
      }
    }
  };
  return {
    call: (call, within = timeoutMs) =>
      new Promise((done, fail) => {
        if (closed || !channel.send) return fail(new Error('the gateway process on the other end of the channel is gone'));
        const id = next++;
        const timer = setTimeout(() => {
          pending.delete(id);
          fail(new Error(`no answer to ${call.kind} within ${within} ms`));
        }, within);
        timer.unref();
        pending.set(id, { done, fail, timer });
        try {
          channel.send({ mloop: 'call', id, call } satisfies Envelope);
        } catch (error) {
          pending.delete(id);
          clearTimeout(timer);
          fail(error as Error);
        }
      }),
  };
}
