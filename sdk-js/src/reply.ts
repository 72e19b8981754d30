// Replies: the promise a registration (subscribe, listen, provide, ...)
// returns. A failure is reported once: to the promise when someone attached
// a handler to it (await, then, catch) by the time it fails, otherwise to
// the client's `error` event.

import type { EddyError } from './errors';

/** A Promise that remembers whether a handler was attached to it. */
export class Reply<T = void> extends Promise<T> {
  // Derived promises (then, catch, finally) are plain Promises.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  /** observed is set once then (and so catch, finally, await) was called. */
  observed = false;

  override then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.observed = true;
    return super.then(onfulfilled, onrejected);
  }
}

/** A Reply with its settling functions. */
export interface Pending<T = void> {
  readonly promise: Reply<T>;
  resolve(v: T): void;
  /** reject without reporting (the failure is reported elsewhere). */
  reject(e: EddyError): void;
}

export function pending<T = void>(): Pending<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: EddyError) => void;
  const promise = new Reply<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return {
    promise,
    resolve,
    reject: (e) => {
      // Handled without marking it observed: nobody may be waiting.
      Promise.prototype.then.call(promise, undefined, () => undefined);
      reject(e);
    },
  };
}

/** resolved returns a Reply that is already fulfilled. */
export function resolved(): Reply<void> {
  const p = pending();
  p.resolve();
  return p.promise;
}

/**
 * fail rejects every pending reply with e and reports e, once, unless one
 * of them is awaited: a failure goes to a promise or to the error event,
 * never both.
 */
export function fail(list: readonly Pending<unknown>[], e: EddyError, report: (e: EddyError) => void): void {
  const awaited = list.some((p) => p.promise.observed);
  for (const p of list) p.reject(e);
  if (!awaited) report(e);
}

/** track settles p with the outcome of req, reporting a failure as fail does. */
export function track(req: Promise<unknown> | null, report: (e: EddyError) => void, onError?: (e: EddyError) => void): Reply<void> {
  const p = pending();
  if (!req) {
    p.resolve();
    return p.promise;
  }
  req.then(
    () => p.resolve(),
    (e: EddyError) => {
      onError?.(e);
      fail([p], e, report);
    },
  );
  return p.promise;
}
