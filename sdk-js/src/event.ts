// Events: publish/subscribe by name. Several local subscribers of a name
// share one server subscription; the server never sends a client its own
// emits, so emit hands the data to the local subscribers itself.

import type { Connection, TopicHandler } from './connection';
import { EddyError, rethrowLater } from './errors';
import { fromBytes, toBytes, type Json } from './json';
import { Listeners, type ListenCallback } from './listen';
import { fail, pending, resolved, track, type Pending, type Reply } from './reply';
import { Action, Topic, type Msg } from './wire';

export type EventCallback = (data: Json, name: string) => void;

export class EventHandler implements TopicHandler {
  private readonly subs = new Map<string, EventCallback[]>();
  // Subscribe calls waiting for the server's Ack, by name.
  private readonly waiters = new Map<string, Pending[]>();
  private readonly listeners: Listeners;

  constructor(
    private readonly conn: Connection,
    private readonly reportError: (e: EddyError) => void,
  ) {
    this.listeners = new Listeners(conn, Topic.Event, reportError);
  }

  /**
   * subscribe calls cb with the data of every event emitted on name, by other
   * clients and by this one. The promise resolves once the server confirmed
   * the subscription (at once when the name is already subscribed); it
   * rejects, and cb is removed, when the server refuses it. A refusal goes
   * to the promise when it is awaited, otherwise to the client's `error`
   * event.
   */
  subscribe(name: string, cb: EventCallback): Promise<void> {
    checkName(name);
    if (typeof cb !== 'function') throw new TypeError('eddy: event.subscribe needs a callback');
    const list = this.subs.get(name);
    if (list) {
      list.push(cb);
      return this.waiters.has(name) ? this.wait(name) : resolved();
    }
    this.subs.set(name, [cb]);
    const p = this.wait(name);
    const req = this.conn.requestNow({ topic: Topic.Event, action: Action.Subscribe, name });
    if (req) req.then(() => this.settle(name), (e: EddyError) => this.refused(name, e));
    return p;
  }

  /** unsubscribe removes cb from name, or every callback of name when cb is
   * omitted; the last one gone ends the server subscription. The promise
   * resolves once the server confirmed (at once when a local callback
   * remains or while offline); a refusal goes to it when awaited, otherwise
   * to the `error` event. */
  unsubscribe(name: string, cb?: EventCallback): Promise<void> {
    const list = this.subs.get(name);
    if (!list) return resolved();
    if (cb) {
      const i = list.indexOf(cb);
      if (i >= 0) list.splice(i, 1);
      if (list.length > 0) return resolved();
    }
    this.subs.delete(name);
    this.settle(name);
    return track(this.conn.requestNow({ topic: Topic.Event, action: Action.Unsubscribe, name }), this.reportError);
  }

  /**
   * emit publishes data (any JSON value) on name. This client's own
   * subscribers of name get it at once, synchronously; other clients through
   * the server. Offline the event is queued (or NotConnected is thrown when
   * the offline queue is off).
   */
  emit(name: string, data?: unknown): void {
    checkName(name);
    const bytes = data === undefined ? undefined : toBytes(data);
    this.conn.checkSize(bytes?.length ?? 0, name);
    this.conn.checkSend(name);
    const m: Msg = { topic: Topic.Event, action: Action.Emit, name };
    if (bytes) m.data = bytes;
    this.conn.send(m);
    if (this.subs.has(name)) this.deliver(name, bytes === undefined ? null : fromBytes(bytes, name));
  }

  /** names returns the names with local subscribers. */
  names(): string[] {
    return [...this.subs.keys()];
  }

  /**
   * listen tells this client about subscriptions to event names matching
   * pattern (a regular expression), so it can start and stop producing
   * them; see docs/protocol.md, Listening. The promise resolves once the
   * server accepted the pattern (at once while offline) and rejects with
   * InvalidPattern for one it cannot parse.
   */
  listen(pattern: string, cb: ListenCallback): Promise<void> {
    return this.listeners.listen(pattern, cb);
  }

  /** unlisten stops listening to pattern; the promise resolves once the
   * server confirmed. */
  unlisten(pattern: string): Promise<void> {
    return this.listeners.unlisten(pattern);
  }

  handle(m: Msg): void {
    switch (m.action) {
      case Action.Emit: {
        if (!m.name || !this.subs.has(m.name)) return;
        let data: Json;
        try {
          data = fromBytes(m.data, m.name);
        } catch (err) {
          this.reportError(err as EddyError);
          return;
        }
        this.deliver(m.name, data);
        return;
      }
      case Action.Error:
        this.reportError(new EddyError(m.code ?? 0, m.reason, m.name));
        return;
      default:
        this.listeners.handle(m);
    }
  }

  resubscribe(): void {
    this.subscribeAll([...this.subs.keys()]);
    this.listeners.resubscribe();
  }

  lost(): void {
    this.listeners.lost();
  }

  closed(err: EddyError): void {
    // The client reports why it stopped; the waiting promises only reject.
    for (const list of this.waiters.values()) for (const w of list) w.reject(err);
    this.waiters.clear();
  }

  // subscribeAll renews names in one bulk Subscribe. The server stops at the
  // first name it refuses; that one is dropped and the rest sent again.
  private subscribeAll(names: string[]): void {
    if (names.length === 0) return;
    const req = this.conn.requestNow({ topic: Topic.Event, action: Action.Subscribe, names });
    if (!req) return;
    req.then(
      () => {
        for (const n of names) this.settle(n);
      },
      (e: EddyError) => {
        const i = e.target === undefined ? -1 : names.indexOf(e.target);
        if (i < 0) {
          this.reportError(e);
          return;
        }
        for (const n of names.slice(0, i)) this.settle(n);
        this.refused(names[i]!, e);
        this.subscribeAll(names.slice(i + 1).filter((n) => this.subs.has(n)));
      },
    );
  }

  // refused drops a name the server refused: the waiting subscribe calls
  // get the error, or the error event when none of them is awaited.
  private refused(name: string, e: EddyError): void {
    this.subs.delete(name);
    const list = this.waiters.get(name) ?? [];
    this.waiters.delete(name);
    fail(list, e, this.reportError);
  }

  private wait(name: string): Reply<void> {
    const p = pending();
    const list = this.waiters.get(name);
    if (list) list.push(p);
    else this.waiters.set(name, [p]);
    return p.promise;
  }

  private settle(name: string): void {
    const list = this.waiters.get(name);
    if (!list) return;
    this.waiters.delete(name);
    for (const w of list) w.resolve();
  }

  private deliver(name: string, data: Json): void {
    const list = this.subs.get(name);
    if (!list) return;
    for (const cb of list.slice()) {
      try {
        cb(data, name);
      } catch (err) {
        rethrowLater(err);
      }
    }
  }
}

/** checkName throws a TypeError unless name is a non-empty string. */
export function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new TypeError('eddy: a name must be a non-empty string');
}
