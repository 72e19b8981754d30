// Client options and connection states.

import type { MergeStrategy } from './record/merge';

/**
 * The connection states, reported by the client's `connectionStateChanged`
 * event in the order they happen:
 *
 *     AWAITING_CONNECTION -> CHALLENGING -> AWAITING_AUTHENTICATION
 *       -> AUTHENTICATING -> OPEN -> RECONNECTING -> AWAITING_CONNECTION -> ...
 *
 * CLOSED and ERROR are final.
 */
export const ConnectionState = {
  /** Opening the WebSocket. */
  AWAITING_CONNECTION: 'AWAITING_CONNECTION',
  /** Socket open; the handshake was sent and its answer is awaited. */
  CHALLENGING: 'CHALLENGING',
  /** Handshake done; waiting for login() (or after a refused login). */
  AWAITING_AUTHENTICATION: 'AWAITING_AUTHENTICATION',
  /** The login was sent and its result is awaited. */
  AUTHENTICATING: 'AUTHENTICATING',
  /** Logged in: everything reaches the server. */
  OPEN: 'OPEN',
  /** The connection was lost; waiting (with backoff) before dialling again. */
  RECONNECTING: 'RECONNECTING',
  /** close() was called, or the connection was lost with reconnect off. Final. */
  CLOSED: 'CLOSED',
  /** The server closed the connection with a code that forbids reconnecting
   * (for example TooManyAuthAttempts or UnsupportedVersion). Final. */
  ERROR: 'ERROR',
} as const;

export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/**
 * The part of the WebSocket API the client uses: the browser's WebSocket and
 * the `ws` package's both fit.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  addEventListener(type: string, listener: (ev: any) => void): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A credentials callback: returns (or resolves with) the auth data for one
 * login. See EddyOptions.auth. */
export type AuthFunction = () => unknown | Promise<unknown>;

export interface EddyOptions {
  /** A function returning the auth data (any JSON value, or a promise of
   * one), asked before every login: the first, when login() is called
   * without data, and each after a reconnect. Use it for credentials that
   * expire, such as a JWT. With it, a connection the server closes with
   * TokenExpired, or a re-login refused with TokenExpired, reconnects and
   * asks again instead of stopping. */
  auth?: AuthFunction;
  /** The WebSocket implementation; default globalThis.WebSocket, or in Node
   * without one (before 22) the `ws` package's, imported when first needed
   * (an optional peer dependency: `npm install ws`). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff in milliseconds: the first delay is about `min`,
   * doubling per failed attempt up to `max`, each jittered to between half
   * and all of its value. Default { min: 100, max: 10000 }. `false` turns
   * reconnection off: a lost connection then closes the client. */
  reconnect?: { min?: number; max?: number } | false;
  /** Queue writes made while offline (event emits, record writes, RPC calls,
   * record requests) and send them once logged in again. Default true. When
   * false those calls fail with NotConnected while the client is not OPEN. */
  offlineQueue?: boolean;
  /** The most messages the offline queue holds; beyond it the oldest are
   * dropped and reported through the `error` event. Default 10000. */
  offlineQueueLimit?: number;
  /** Interval of the client's own pings in milliseconds. 0 (default) uses
   * the server's heartbeatMs from the handshake; negative sends none. The
   * connection counts as lost when nothing arrives for two intervals. */
  heartbeatMs?: number;
  /** How long a request (subscribe, has, head, snapshot, delete, setData,
   * presence queries) waits for its answer. Default 10000. */
  requestTimeoutMs?: number;
  /** The default record merge strategy (see MergeStrategy). Default
   * MergeStrategy.REMOTE_WINS. */
  mergeStrategy?: MergeStrategy;
  /** The largest message the client sends, in bytes; set it to the server's
   * net.maxFrame. Larger writes, emits and calls throw MessageTooLarge
   * before changing anything. Default 1 MiB (the server's default). */
  maxMessageBytes?: number;
}

export interface ResolvedOptions {
  WebSocket: WebSocketConstructor | undefined;
  auth: AuthFunction | undefined;
  reconnect: { min: number; max: number } | false;
  offlineQueue: boolean;
  offlineQueueLimit: number;
  heartbeatMs: number;
  requestTimeoutMs: number;
  maxMessageBytes: number;
}

export const DEFAULT_RECONNECT_MIN = 100;
export const DEFAULT_RECONNECT_MAX = 10_000;
export const DEFAULT_HEARTBEAT_MS = 20_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_OFFLINE_QUEUE_LIMIT = 10_000;
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;

function positive(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && v > 0 && Number.isFinite(v) ? v : dflt;
}

export function resolveOptions(o: EddyOptions): ResolvedOptions {
  let reconnect: ResolvedOptions['reconnect'] = false;
  if (o.reconnect !== false) {
    const min = positive(o.reconnect?.min, DEFAULT_RECONNECT_MIN);
    reconnect = { min, max: Math.max(min, positive(o.reconnect?.max, DEFAULT_RECONNECT_MAX)) };
  }
  return {
    WebSocket: o.WebSocket,
    auth: typeof o.auth === 'function' ? o.auth : undefined,
    reconnect,
    offlineQueue: o.offlineQueue !== false,
    offlineQueueLimit: positive(o.offlineQueueLimit, DEFAULT_OFFLINE_QUEUE_LIMIT),
    heartbeatMs: typeof o.heartbeatMs === 'number' && Number.isFinite(o.heartbeatMs) ? o.heartbeatMs : 0,
    requestTimeoutMs: positive(o.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS),
    maxMessageBytes: positive(o.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
  };
}
