// Eddy is the client: one logical connection to an Eddy server that
// survives reconnects, with the event, record, rpc and presence APIs.

import { Connection, type LoginResult } from './connection';
import { Emitter } from './emitter';
import type { EddyError } from './errors';
import { EventHandler } from './event';
import type { Json } from './json';
import { ConnectionState, resolveOptions, type EddyOptions } from './options';
import { PresenceHandler } from './presence';
import { RecordHandler } from './record/handler';
import { RpcHandler } from './rpc';
import { Topic } from './wire';

export interface ClientEvents {
  /** Every connection state change, in order. */
  connectionStateChanged(state: ConnectionState): void;
  /** Errors no promise is waiting for: refused subscriptions and writes,
   * conflicts a merge strategy failed on, a refused automatic re-login, the
   * reason the client stopped. */
  error(err: EddyError): void;
}

export class Eddy extends Emitter<ClientEvents> {
  /** Publish and subscribe to events. */
  readonly event: EventHandler;
  /** Records, lists and anonymous records. */
  readonly record: RecordHandler;
  /** Remote procedure calls. */
  readonly rpc: RpcHandler;
  /** Who is online. */
  readonly presence: PresenceHandler;

  private readonly conn: Connection;

  /**
   * new Eddy(url, options) starts connecting at once (ws://host:6020 or
   * wss://...). Call login() next; until it succeeds nothing but the
   * handshake reaches the server, and writes wait in the offline queue.
   */
  constructor(url: string, options: EddyOptions = {}) {
    super();
    const opts = resolveOptions(options);
    const report = (e: EddyError): void => this.emit('error', e);
    this.conn = new Connection(url, opts, {
      state: (s) => this.emit('connectionStateChanged', s),
      error: report,
    });
    this.event = new EventHandler(this.conn, report);
    this.record = new RecordHandler(this.conn, report, options.mergeStrategy);
    this.rpc = new RpcHandler(this.conn, report);
    this.presence = new PresenceHandler(this.conn, report);
    this.conn.register(Topic.Event, this.event);
    this.conn.register(Topic.Record, this.record);
    this.conn.register(Topic.Rpc, this.rpc);
    this.conn.register(Topic.Presence, this.presence);
    this.conn.start();
  }

  /**
   * login authenticates with authData (any JSON value, for example
   * { username, password } or { token }; omit it for an anonymous login).
   * It resolves with the user id and the server's clientData, and rejects
   * with an EddyError (InvalidCredentials, TooManyAuthAttempts, ...) when
   * refused. The same data logs in again after every reconnect. Without
   * authData, the `auth` option's function (when given) is asked for the
   * data before this login and before each one after a reconnect.
   */
  login(authData?: unknown): Promise<LoginResult> {
    return this.conn.login(authData);
  }

  /** close says goodbye to the server and stops the client for good. The
   * promise resolves once the connection is closed (after at most 2 s). */
  close(): Promise<void> {
    return this.conn.close();
  }

  /** The current connection state. */
  getConnectionState(): ConnectionState {
    return this.conn.state;
  }

  /** The logged-in user id; null before the first login. */
  get user(): string | null {
    return this.conn.user;
  }

  /** The clientData of the last login. */
  get clientData(): Json {
    return this.conn.clientData;
  }
}
