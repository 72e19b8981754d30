// Listening: a provider listens to a pattern (a regular expression matched
// against whole names) and is told when a matching name gains its first
// subscriber (SubscriptionFound) and when its last one leaves
// (SubscriptionRemoved). It answers each find with ListenAccept (it now
// provides the name) or ListenReject (the server asks the next listener).
// Used for events and records alike.

import type { Connection } from './connection';
import { EddyError, ErrorCode, rethrowLater } from './errors';
import { resolved, track, type Reply } from './reply';
import { Action, type Msg, type Topic } from './wire';

/** The answer a listen callback gives for one found name. */
export interface ListenResponse {
  /** accept takes the name: this client now provides it. */
  accept(): void;
  /** reject declines; the server asks another listener. */
  reject(): void;
  /** onStop registers fn to run when the name's last subscriber leaves (or
   * the connection is lost) after an accept. */
  onStop(fn: (name: string) => void): void;
}

/** A listen callback: name is the subscribed name matching the pattern. */
export type ListenCallback = (name: string, response: ListenResponse) => void;

interface Provided {
  stop: ((name: string) => void)[];
}

export class Listeners {
  private readonly patterns = new Map<string, ListenCallback>();
  // Names provided (accepted) or being decided, by pattern then name.
  private readonly active = new Map<string, Map<string, Provided>>();

  constructor(
    private readonly conn: Connection,
    private readonly topic: Topic,
    private readonly reportError: (e: EddyError) => void,
  ) {}

  listen(pattern: string, cb: ListenCallback): Reply<void> {
    if (typeof pattern !== 'string' || pattern === '') throw new TypeError('eddy: listen needs a pattern');
    if (typeof cb !== 'function') throw new TypeError('eddy: listen needs a callback');
    if (this.patterns.has(pattern)) throw new EddyError(ErrorCode.AlreadyListening, 'already listening to this pattern', pattern);
    this.patterns.set(pattern, cb);
    return this.sendListen(pattern);
  }

  unlisten(pattern: string): Reply<void> {
    if (!this.patterns.delete(pattern)) return resolved();
    this.stopAll(pattern);
    return track(this.conn.requestNow({ topic: this.topic, action: Action.Unlisten, name: pattern }), this.reportError);
  }

  resubscribe(): void {
    for (const pattern of this.patterns.keys()) void this.sendListen(pattern);
  }

  lost(): void {
    for (const pattern of this.active.keys()) this.stopAll(pattern);
  }

  handle(m: Msg): void {
    const name = m.name ?? '';
    const pattern = m.path ?? '';
    switch (m.action) {
      case Action.SubscriptionFound:
        this.found(name, pattern);
        return;
      case Action.SubscriptionRemoved: {
        const provided = this.active.get(pattern)?.get(name);
        if (!provided) return;
        this.active.get(pattern)!.delete(name);
        this.runStop(provided, name);
        return;
      }
      case Action.Error:
        this.reportError(new EddyError(m.code ?? 0, m.reason, m.name));
        return;
      default:
        return;
    }
  }

  private sendListen(pattern: string): Reply<void> {
    const req = this.conn.requestNow({ topic: this.topic, action: Action.Listen, name: pattern });
    return track(req, this.reportError, () => this.patterns.delete(pattern));
  }

  private found(name: string, pattern: string): void {
    const cb = this.patterns.get(pattern);
    if (!cb) return; // unlistened meanwhile: the server asks someone else
    let answered = false;
    const provided: Provided = { stop: [] };
    const response: ListenResponse = {
      accept: () => {
        if (answered) return;
        answered = true;
        if (!this.patterns.has(pattern)) return;
        let names = this.active.get(pattern);
        if (!names) this.active.set(pattern, (names = new Map()));
        names.set(name, provided);
        this.answer(Action.ListenAccept, name, pattern);
      },
      reject: () => {
        if (answered) return;
        answered = true;
        this.answer(Action.ListenReject, name, pattern);
      },
      onStop: (fn) => {
        provided.stop.push(fn);
      },
    };
    try {
      cb(name, response);
    } catch (err) {
      rethrowLater(err);
    }
  }

  private answer(action: Action, name: string, pattern: string): void {
    this.conn.sendNow({ topic: this.topic, action, name, path: pattern });
  }

  private stopAll(pattern: string): void {
    const names = this.active.get(pattern);
    if (!names) return;
    this.active.delete(pattern);
    for (const [name, p] of names) this.runStop(p, name);
  }

  private runStop(p: Provided, name: string): void {
    for (const fn of p.stop) {
      try {
        fn(name);
      } catch (err) {
        rethrowLater(err);
      }
    }
  }
}
