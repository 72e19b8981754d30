// A small typed event emitter. Listeners run synchronously in the order they
// were added; an exception in one is rethrown asynchronously and does not
// stop the others or the emitter's caller.

import { rethrowLater } from './errors';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  private listeners = new Map<keyof Events, Listener[]>();

  /** on adds fn for event; it returns a function that removes it again. */
  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    const list = this.listeners.get(event);
    if (list) list.push(fn);
    else this.listeners.set(event, [fn]);
    return () => this.off(event, fn);
  }

  /** once adds fn for the next emission of event only. */
  once<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    const wrapper = ((...args: Parameters<Events[K]>) => {
      this.off(event, wrapper);
      fn(...args);
    }) as Events[K];
    return this.on(event, wrapper);
  }

  /** off removes fn, or every listener of event when fn is omitted. */
  off<K extends keyof Events>(event: K, fn?: Events[K]): void {
    if (!fn) {
      this.listeners.delete(event);
      return;
    }
    const list = this.listeners.get(event);
    if (!list) return;
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.listeners.delete(event);
  }

  /** listenerCount returns how many listeners event has. */
  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const list = this.listeners.get(event);
    if (!list) return;
    for (const fn of list.slice()) {
      try {
        fn(...args);
      } catch (err) {
        rethrowLater(err);
      }
    }
  }
}
