// Presence: which users are online. Subscribers hear Join and Leave for
// every user, or for the users they name; queries ask who is online now.
// Presence counts users, not connections, and never reports a client's own
// user to it.

import type { Connection, TopicHandler } from './connection';
import { EddyError, rethrowLater } from './errors';
import { checkName } from './event';
import { fromBytes } from './json';
import { resolved, track } from './reply';
import { Action, Topic, type Msg } from './wire';

/** A presence callback: user came online (true) or went offline (false). */
export type PresenceCallback = (user: string, online: boolean) => void;

export class PresenceHandler implements TopicHandler {
  private readonly everyone: PresenceCallback[] = [];
  private readonly byUser = new Map<string, PresenceCallback[]>();

  constructor(
    private readonly conn: Connection,
    private readonly reportError: (e: EddyError) => void,
  ) {}

  /**
   * subscribe(cb) hears about every user; subscribe(user, cb) about one.
   * The promise resolves once the server confirmed (at once when the
   * subscription already existed or while offline); a refusal goes to it
   * when it is awaited, otherwise to the client's error event.
   */
  subscribe(cb: PresenceCallback): Promise<void>;
  subscribe(user: string, cb: PresenceCallback): Promise<void>;
  subscribe(a: string | PresenceCallback, b?: PresenceCallback): Promise<void> {
    if (typeof a === 'function') {
      this.everyone.push(a);
      return this.everyone.length === 1 ? this.send(Action.Subscribe, undefined) : resolved();
    }
    checkName(a);
    if (typeof b !== 'function') throw new TypeError('eddy: presence.subscribe needs a callback');
    const list = this.byUser.get(a);
    if (list) {
      list.push(b);
      return resolved();
    }
    this.byUser.set(a, [b]);
    return this.send(Action.Subscribe, [a]);
  }

  /** unsubscribe(cb?) removes an everyone-callback (all when cb is omitted);
   * unsubscribe(user, cb?) one user's. The promise resolves once the server
   * confirmed the last one gone (at once otherwise, or while offline). */
  unsubscribe(a?: string | PresenceCallback, b?: PresenceCallback): Promise<void> {
    if (typeof a !== 'string') {
      if (this.everyone.length === 0) return resolved();
      if (a) remove(this.everyone, a);
      else this.everyone.length = 0;
      return this.everyone.length === 0 ? this.send(Action.Unsubscribe, undefined) : resolved();
    }
    const list = this.byUser.get(a);
    if (!list) return resolved();
    if (b) remove(list, b);
    if (b && list.length > 0) return resolved();
    this.byUser.delete(a);
    return this.send(Action.Unsubscribe, [a]);
  }

  /** getAll() resolves the users online now (this client's own excluded). */
  getAll(): Promise<string[]>;
  /** getAll(users) resolves, for each named user, whether it is online. */
  getAll(users: string[]): Promise<{ [user: string]: boolean }>;
  async getAll(users?: string[]): Promise<string[] | { [user: string]: boolean }> {
    const m: Msg = { topic: Topic.Presence, action: Action.Query };
    if (users !== undefined) {
      if (!Array.isArray(users)) throw new TypeError('eddy: presence.getAll takes an array of user names');
      users.forEach((u) => checkName(u));
      if (users.length === 0) return {};
      m.names = users;
    }
    const r = await this.conn.request(m);
    if (users === undefined) return r.names ?? [];
    const data = fromBytes(r.data);
    const out: { [user: string]: boolean } = {};
    for (const u of users) {
      const v = data !== null && typeof data === 'object' && !Array.isArray(data) ? data[u] : undefined;
      out[u] = v === true;
    }
    return out;
  }

  handle(m: Msg): void {
    switch (m.action) {
      case Action.Join:
      case Action.Leave: {
        const user = m.user ?? '';
        const online = m.action === Action.Join;
        const cbs = [...this.everyone, ...(this.byUser.get(user) ?? [])];
        for (const cb of cbs) {
          try {
            cb(user, online);
          } catch (err) {
            rethrowLater(err);
          }
        }
        return;
      }
      case Action.Error:
        this.reportError(new EddyError(m.code ?? 0, m.reason, m.name));
        return;
      default:
        return;
    }
  }

  resubscribe(): void {
    if (this.everyone.length > 0) void this.send(Action.Subscribe, undefined);
    if (this.byUser.size > 0) void this.send(Action.Subscribe, [...this.byUser.keys()]);
  }

  private send(action: Action, names: string[] | undefined): Promise<void> {
    const m: Msg = { topic: Topic.Presence, action };
    if (names) m.names = names;
    return track(this.conn.requestNow(m), this.reportError);
  }
}

function remove<T>(list: T[], v: T): void {
  const i = list.indexOf(v);
  if (i >= 0) list.splice(i, 1);
}
