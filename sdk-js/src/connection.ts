// The connection runtime: one WebSocket at a time, the handshake and login,
// heartbeats, reconnection with jittered exponential backoff, the offline
// queue, request/reply correlation and dispatch of inbound messages to the
// topic handlers.
//
// Everything runs on the JavaScript event loop, so there are no locks; the
// invariants are:
//  1. At most one socket is live (`this.socket`); events from an abandoned
//     socket are ignored, because every handler checks its socket is current.
//  2. Messages reach the socket only in state OPEN. After each login the
//     topic handlers renew their subscriptions first, then the offline queue
//     is flushed, then OPEN is announced: the server sees subscriptions
//     before the writes queued behind them.
//  3. A request sent on a connection that is lost fails with ConnectionLost;
//     a request still waiting in the offline queue is sent after the next
//     login. Every request fails with RequestTimeout after requestTimeoutMs.

import { ClientErrorCode, EddyError, ErrorCode, ErrorInfo } from './errors';
import { fromBytes, toBytes, type Json } from './json';
import { ConnectionState, DEFAULT_HEARTBEAT_MS, type ResolvedOptions, type WebSocketConstructor, type WebSocketLike } from './options';
import { Action, Topic, decode, encode, type Msg } from './wire';

/** A topic module's hooks into the connection. */
export interface TopicHandler {
  /** handle receives every inbound message of the topic that is not the
   * reply to a request made with Connection.request. */
  handle(m: Msg): void;
  /** resubscribe renews the topic's server state after each login, before
   * the offline queue is flushed. */
  resubscribe(): void;
  /** lost is called when a connection ends (before any reconnect). */
  lost?(): void;
  /** closed is called once when the client stops for good. */
  closed?(err: EddyError): void;
}

/** The result of a successful login. */
export interface LoginResult {
  user: string;
  clientData: Json;
}

interface Pending {
  resolve(m: Msg): void;
  reject(e: EddyError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The connection epoch it was sent on; 0 while queued. */
  epoch: number;
  /** The topic of the request: only a reply on the same topic settles it. */
  topic: Topic;
}

interface Queued {
  m: Msg;
  /** Request id when the message is a tracked request. */
  id: number;
}

// Replies correlated by id with a request from Connection.request.
const replyActions = new Set<Action>([
  Action.Ack,
  Action.Error,
  Action.ReadResult,
  Action.HasResult,
  Action.HeadResult,
  Action.SnapshotResult,
  Action.WriteAck,
  Action.QueryResult,
  Action.Response,
  Action.RequestError,
]);

const PROTOCOL_NAME = 'eddy';
const PROTOCOL_VERSION = 1;
const CLIENT_INFO = toBytes({ sdk: 'js' });
const OPEN_READY_STATE = 1;
const CLOSED_READY_STATE = 3;
// How long close() waits for the socket's close handshake.
const CLOSE_WAIT_MS = 2000;
// Bytes of a message besides its data and strings: the table, vtable,
// offsets and scalars.
const MESSAGE_OVERHEAD = 128;

export interface ConnectionEvents {
  state(s: ConnectionState): void;
  error(e: EddyError): void;
}

export class Connection {
  state: ConnectionState = ConnectionState.AWAITING_CONNECTION;
  user: string | null = null;
  clientData: Json = null;

  private readonly handlers = new Map<Topic, TopicHandler>();
  private readonly pending = new Map<number, Pending>();
  private queue: Queued[] = [];
  private socket: WebSocketLike | null = null;
  // epoch numbers connections from 1; 0 marks a request still queued.
  private epoch = 1;
  // Client ids count up from 1. The ids the server picks for the RPC
  // requests it hands this client as a provider have their top bit set
  // (docs/protocol.md, RPC), so an Error answering a provider's message is
  // never mistaken for the reply to one of ours.
  private nextId = 1;
  private attempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private lastReceived = 0;
  private heartbeatMs = 0;
  private closeCode = 0;
  private closeReason = '';

  // Login: the auth data to send on every (re)connect once login() was
  // called; null for an anonymous login. authFn, when set, is asked for
  // the data before each login instead.
  private loginRequested = false;
  private auth: Uint8Array | null = null;
  private authFn: (() => unknown) | undefined;
  private loginWaiters: { resolve(r: LoginResult): void; reject(e: EddyError): void }[] = [];
  private loginId = 0;

  constructor(
    private readonly url: string,
    private readonly opts: ResolvedOptions,
    private readonly events: ConnectionEvents,
  ) {}

  /** register installs the handler of topic. */
  register(topic: Topic, h: TopicHandler): void {
    this.handlers.set(topic, h);
  }

  /** start opens the first connection. */
  start(): void {
    this.dial();
  }

  get isOpen(): boolean {
    return this.state === ConnectionState.OPEN;
  }

  get isStopped(): boolean {
    return this.state === ConnectionState.CLOSED || this.state === ConnectionState.ERROR;
  }

  /** newId returns a fresh correlation id. */
  newId(): number {
    return this.nextId++;
  }

  // ---- login ----

  login(authData?: unknown): Promise<LoginResult> {
    if (this.isStopped) return Promise.reject(this.stoppedError());
    if (this.state === ConnectionState.OPEN) {
      return Promise.reject(new EddyError(ErrorCode.AlreadyAuthenticated, 'already logged in'));
    }
    let auth: Uint8Array | null = null;
    const authFn = authData === undefined ? this.opts.auth : undefined;
    try {
      if (authData !== undefined) auth = toBytes(authData);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<LoginResult>((resolve, reject) => {
      this.loginWaiters.push({ resolve, reject });
      this.auth = auth;
      this.authFn = authFn;
      this.loginRequested = true;
      if (this.state === ConnectionState.AWAITING_AUTHENTICATION) this.sendLogin();
    });
  }

  private sendLogin(): void {
    this.setState(ConnectionState.AUTHENTICATING);
    const fn = this.authFn;
    if (!fn) {
      this.writeLogin(this.auth);
      return;
    }
    const sock = this.socket;
    let p: Promise<unknown>;
    try {
      p = Promise.resolve(fn());
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (data) => {
        if (sock !== this.socket || this.state !== ConnectionState.AUTHENTICATING) return;
        let bytes: Uint8Array | null;
        try {
          bytes = data === undefined || data === null ? null : toBytes(data);
        } catch (err) {
          this.authFunctionFailed(err);
          return;
        }
        this.writeLogin(bytes);
      },
      (err) => {
        if (sock === this.socket && this.state === ConnectionState.AUTHENTICATING) this.authFunctionFailed(err);
      },
    );
  }

  private writeLogin(auth: Uint8Array | null): void {
    this.loginId = this.newId();
    const m: Msg = { topic: Topic.Auth, action: Action.Login, id: BigInt(this.loginId) };
    if (auth) m.data = auth;
    this.write(m);
  }

  // authFunctionFailed handles an auth function that threw or rejected: a
  // login() waiting for the answer rejects; on a reconnect the error is
  // reported and the client dials again after the backoff.
  private authFunctionFailed(cause: unknown): void {
    const err = new EddyError(ClientErrorCode.AuthFunctionFailed, `the auth function failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    const waiters = this.loginWaiters;
    this.loginWaiters = [];
    if (waiters.length > 0) {
      this.loginRequested = false;
      this.setState(ConnectionState.AWAITING_AUTHENTICATION);
      for (const w of waiters) w.reject(err);
      return;
    }
    this.events.error(err);
    this.lost(err.message);
  }

  private onLoginResult(m: Msg): void {
    if (Number(m.id ?? 0n) !== this.loginId) return;
    const waiters = this.loginWaiters;
    this.loginWaiters = [];
    if (m.code) {
      const err = new EddyError(m.code, m.reason);
      if (waiters.length === 0 && m.code === ErrorCode.TokenExpired && this.authFn) {
        // A re-login with a token that expired meanwhile: dial again after
        // the backoff, asking the auth function for a fresh one.
        this.events.error(err);
        this.lost('login refused: credentials expired');
        return;
      }
      this.loginRequested = false;
      this.setState(ConnectionState.AWAITING_AUTHENTICATION);
      for (const w of waiters) w.reject(err);
      if (waiters.length === 0) this.events.error(err);
      return;
    }
    let clientData: Json = null;
    try {
      clientData = fromBytes(m.data);
    } catch (err) {
      this.events.error(err as EddyError);
    }
    this.user = m.user ?? '';
    this.clientData = clientData;
    this.attempts = 0;
    this.state = ConnectionState.OPEN;
    for (const h of this.handlers.values()) h.resubscribe();
    this.flushQueue();
    if (this.state !== ConnectionState.OPEN) return; // a handler closed the client
    this.events.state(ConnectionState.OPEN);
    const result = { user: this.user, clientData };
    for (const w of waiters) w.resolve(result);
  }

  // ---- sending ----

  /**
   * checkSize throws MessageTooLarge when a message with these variable
   * parts could exceed maxMessageBytes; callers check before they change
   * any local state.
   */
  checkSize(dataBytes: number, ...strings: (string | undefined)[]): void {
    let n = dataBytes + MESSAGE_OVERHEAD;
    for (const s of strings) if (s) n += 3 * s.length;
    if (n > this.opts.maxMessageBytes) {
      throw new EddyError(ErrorCode.MessageTooLarge, `message of about ${n} bytes exceeds maxMessageBytes (${this.opts.maxMessageBytes})`, strings[0]);
    }
  }

  private write(m: Msg): void {
    const s = this.socket;
    if (!s || s.readyState !== OPEN_READY_STATE) return;
    const bytes = encode(m);
    if (bytes.length > this.opts.maxMessageBytes) {
      // Callers check sizes first; this guards what they could not (a whole
      // merged record), since the server would close the connection.
      this.events.error(new EddyError(ErrorCode.MessageTooLarge, `not sent: ${bytes.length} bytes exceed maxMessageBytes`, m.name));
      return;
    }
    try {
      s.send(bytes);
    } catch (err) {
      this.lost(err instanceof Error ? err.message : 'send failed');
    }
  }

  /** sendNow writes m when OPEN and reports whether it did; used for
   * subscription changes, which resubscribe renews anyway. */
  sendNow(m: Msg): boolean {
    if (this.state !== ConnectionState.OPEN) return false;
    this.write(m);
    return true;
  }

  /** checkSend returns when a write may be made now or queued; it throws
   * NotConnected or ClientClosed when it may not. */
  checkSend(target?: string): void {
    if (this.isStopped) throw this.stoppedError(target);
    if (this.state !== ConnectionState.OPEN && !this.opts.offlineQueue) {
      throw new EddyError(ClientErrorCode.NotConnected, undefined, target);
    }
  }

  /** send writes m now when OPEN, or queues it for the next login. */
  send(m: Msg): void {
    this.checkSend(m.name);
    if (this.state === ConnectionState.OPEN) this.write(m);
    else this.enqueue({ m, id: 0 });
  }

  /**
   * call sends m with a fresh id and calls done with the reply carrying that
   * id, or with an EddyError (an Error reply, ConnectionLost, RequestTimeout,
   * ClientClosed). done runs synchronously while the reply is dispatched, so
   * state changes it makes are ordered with the messages around the reply.
   * Offline the message is queued, unless `now` is set: then nothing is sent
   * and call returns false (subscriptions, which resubscribe renews).
   * With the offline queue off, call fails with NotConnected.
   */
  call(m: Msg, done: (err: EddyError | null, reply: Msg | null) => void, opts: { now?: boolean; timeoutMs?: number } = {}): boolean {
    if (opts.now && this.state !== ConnectionState.OPEN) return false;
    try {
      this.checkSend(m.name);
    } catch (err) {
      done(err as EddyError, null);
      return false;
    }
    const id = this.newId();
    m.id = BigInt(id);
    const p: Pending = { resolve: (r) => done(null, r), reject: (e) => done(e, null), timer: undefined, epoch: 0, topic: m.topic };
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs;
    if (timeoutMs > 0) {
      p.timer = setTimeout(() => {
        if (this.pending.get(id) !== p) return;
        this.pending.delete(id);
        p.reject(new EddyError(ClientErrorCode.RequestTimeout, `no answer within ${timeoutMs} ms`, m.name));
      }, timeoutMs);
    }
    this.pending.set(id, p);
    if (this.state === ConnectionState.OPEN) {
      p.epoch = this.epoch;
      this.write(m);
    } else {
      this.enqueue({ m, id });
    }
    return true;
  }

  /** request is call as a Promise, for replies whose handling does not need
   * to be ordered with other inbound messages. */
  request(m: Msg, timeoutMs?: number): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const opts = timeoutMs === undefined ? {} : { timeoutMs };
      this.call(m, (err, reply) => (err ? reject(err) : resolve(reply!)), opts);
    });
  }

  /** requestNow is request with `now`: null (and nothing sent) when not OPEN. */
  requestNow(m: Msg): Promise<Msg> | null {
    if (this.state !== ConnectionState.OPEN) return null;
    return this.request(m);
  }

  private enqueue(q: Queued): void {
    this.queue.push(q);
    if (this.queue.length > this.opts.offlineQueueLimit) {
      const dropped = this.queue.shift()!;
      const err = new EddyError(ClientErrorCode.NotConnected, 'offline queue full: oldest message dropped', dropped.m.name);
      if (dropped.id) this.fail(dropped.id, err);
      else this.events.error(err);
    }
  }

  private flushQueue(): void {
    const q = this.queue;
    this.queue = [];
    for (const item of q) {
      if (item.id) {
        const p = this.pending.get(item.id);
        if (!p) continue; // timed out while queued
        p.epoch = this.epoch;
      }
      this.write(item.m);
    }
  }

  private fail(id: number, err: EddyError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    p.reject(err);
  }

  // ---- receiving ----

  private onData(sock: WebSocketLike, data: unknown): void {
    if (sock !== this.socket) return;
    this.lastReceived = Date.now();
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      this.protocolError('text frame from the server');
      return;
    }
    const m = decode(bytes);
    if (!m) {
      this.protocolError('malformed message from the server');
      return;
    }
    this.dispatch(m);
  }

  private protocolError(reason: string): void {
    this.events.error(new EddyError(ClientErrorCode.InvalidMessage, reason));
    this.write({ topic: Topic.Connection, action: Action.Close, code: ErrorCode.ProtocolError, reason });
    this.lost(reason);
  }

  private dispatch(m: Msg): void {
    if (m.topic === Topic.Connection) {
      this.onConnection(m);
      return;
    }
    if (m.topic === Topic.Auth) {
      if (m.action === Action.LoginResult) this.onLoginResult(m);
      else if (m.action === Action.Error) this.events.error(new EddyError(m.code ?? 0, m.reason));
      return;
    }
    if (m.id && replyActions.has(m.action) && this.resolve(m)) return;
    const h = this.handlers.get(m.topic);
    if (h) {
      h.handle(m);
      return;
    }
    if (m.action === Action.Error) this.events.error(new EddyError(m.code ?? 0, m.reason, m.name));
  }

  // resolve settles the request m answers; false when none waits for it.
  private resolve(m: Msg): boolean {
    const id = Number(m.id);
    const p = this.pending.get(id);
    if (!p || p.topic !== m.topic) return false;
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (m.action === Action.Error || m.action === Action.RequestError) p.reject(new EddyError(m.code ?? 0, m.reason, m.name));
    else p.resolve(m);
    return true;
  }

  private onConnection(m: Msg): void {
    switch (m.action) {
      case Action.HandshakeAck: {
        if (this.state !== ConnectionState.CHALLENGING) return;
        let info: Json = null;
        try {
          info = fromBytes(m.data);
        } catch {
          // the server info is advisory
        }
        const serverHb =
          info !== null && typeof info === 'object' && !Array.isArray(info) && typeof info['heartbeatMs'] === 'number'
            ? info['heartbeatMs']
            : 0;
        this.startHeartbeat(serverHb);
        this.setState(ConnectionState.AWAITING_AUTHENTICATION);
        if (this.loginRequested) this.sendLogin();
        return;
      }
      case Action.Ping:
        this.write({ topic: Topic.Connection, action: Action.Pong, id: m.id ?? 0n });
        return;
      case Action.Pong:
        return;
      case Action.Close:
        this.closeCode = m.code ?? 0;
        this.closeReason = m.reason ?? '';
        return;
      case Action.Redirect:
        return;
      case Action.Error:
        if (!(m.id && this.resolve(m))) this.events.error(new EddyError(m.code ?? 0, m.reason));
        return;
      default:
        return;
    }
  }

  // ---- socket life ----

  private dial(): void {
    const WS = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? nodeWebSocket;
    if (!WS) {
      if (isNode() && !nodeWebSocketLoaded) {
        // Node before 22 has no global WebSocket: use the ws package.
        nodeWebSocketLoad ??= loadNodeWebSocket();
        void nodeWebSocketLoad.then(() => {
          if (!this.isStopped) this.dial();
        });
        return;
      }
      this.stop(
        ConnectionState.ERROR,
        new EddyError(ClientErrorCode.ClientClosed, 'no WebSocket implementation found: install the ws package (npm install ws) or pass options.WebSocket'),
      );
      return;
    }
    this.closeCode = 0;
    this.closeReason = '';
    this.setState(ConnectionState.AWAITING_CONNECTION);
    let sock: WebSocketLike;
    try {
      sock = new WS(this.url);
    } catch (err) {
      this.stop(ConnectionState.ERROR, new EddyError(ClientErrorCode.ClientClosed, `cannot open ${this.url}: ${(err as Error).message}`));
      return;
    }
    sock.binaryType = 'arraybuffer';
    this.socket = sock;
    sock.addEventListener('open', () => {
      if (sock !== this.socket) return;
      this.lastReceived = Date.now();
      this.setState(ConnectionState.CHALLENGING);
      this.write({ topic: Topic.Connection, action: Action.Handshake, name: PROTOCOL_NAME, version: PROTOCOL_VERSION, data: CLIENT_INFO });
    });
    sock.addEventListener('message', (ev: { data: unknown }) => this.onData(sock, ev.data));
    sock.addEventListener('close', () => {
      if (sock === this.socket) this.lost('connection closed');
    });
    sock.addEventListener('error', () => {
      if (sock === this.socket) this.lost('connection failed');
    });
  }

  private startHeartbeat(serverMs: number): void {
    this.stopHeartbeat();
    const configured = this.opts.heartbeatMs;
    if (configured < 0) return;
    this.heartbeatMs = configured > 0 ? configured : serverMs > 0 ? serverMs : DEFAULT_HEARTBEAT_MS;
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastReceived > 2 * this.heartbeatMs) {
        this.lost('no answer from the server for two heartbeat intervals');
        return;
      }
      this.write({ topic: Topic.Connection, action: Action.Ping, id: BigInt(this.newId()) });
    }, this.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private detachSocket(): void {
    const s = this.socket;
    this.socket = null;
    if (s) {
      try {
        s.close();
      } catch {
        // already closing
      }
    }
  }

  // lost handles the end of the current connection.
  private lost(why: string): void {
    if (this.isStopped || this.state === ConnectionState.RECONNECTING) return;
    this.stopHeartbeat();
    this.detachSocket();
    const code = this.closeCode;
    const lostErr = new EddyError(ClientErrorCode.ConnectionLost, code ? `${why}: ${this.closeReason}` : why);
    const epoch = this.epoch++;
    for (const [id, p] of this.pending) {
      if (p.epoch === epoch) this.fail(id, lostErr);
    }
    for (const h of this.handlers.values()) h.lost?.();
    const renewable = code === ErrorCode.TokenExpired && this.authFn !== undefined;
    if (code && ErrorInfo[code] && !ErrorInfo[code]!.reconnect && !renewable) {
      this.stop(ConnectionState.ERROR, new EddyError(code, this.closeReason));
      return;
    }
    if (this.opts.reconnect === false) {
      this.stop(ConnectionState.CLOSED, lostErr);
      return;
    }
    this.setState(ConnectionState.RECONNECTING);
    const { min, max } = this.opts.reconnect;
    const full = Math.min(max, min * 2 ** Math.min(this.attempts, 30));
    this.attempts++;
    const delay = full / 2 + Math.random() * (full / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.isStopped) this.dial();
    }, delay);
  }

  /** close says goodbye to the server and stops for good; the promise
   * resolves once the socket has closed (at most CLOSE_WAIT_MS later). */
  close(): Promise<void> {
    const sock = this.socket;
    if (!this.isStopped) {
      if (this.state !== ConnectionState.RECONNECTING) {
        this.write({ topic: Topic.Connection, action: Action.Close, code: ErrorCode.NormalClose });
      }
      this.stop(ConnectionState.CLOSED, new EddyError(ClientErrorCode.ClientClosed));
    }
    return new Promise<void>((resolve) => {
      if (!sock || sock.readyState === CLOSED_READY_STATE) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      sock.addEventListener('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private stop(state: ConnectionState, err: EddyError): void {
    if (this.isStopped) return;
    this.stopHeartbeat();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.detachSocket();
    this.stoppedWith = err;
    this.setState(state);
    for (const id of [...this.pending.keys()]) this.fail(id, err);
    this.queue = [];
    const waiters = this.loginWaiters;
    this.loginWaiters = [];
    for (const w of waiters) w.reject(err);
    for (const h of this.handlers.values()) h.closed?.(err);
    if (state === ConnectionState.ERROR || err.code !== ClientErrorCode.ClientClosed) this.events.error(err);
  }

  private stoppedWith: EddyError | null = null;

  private stoppedError(target?: string): EddyError {
    const e = this.stoppedWith;
    return new EddyError(e ? e.code : ClientErrorCode.ClientClosed, e?.message, target);
  }

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    this.events.state(s);
  }
}

// The ws package's WebSocket, once loaded for Node without a global one.
let nodeWebSocket: WebSocketConstructor | undefined;
let nodeWebSocketLoad: Promise<void> | undefined;
let nodeWebSocketLoaded = false;

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

// loadNodeWebSocket imports the ws package (an optional peer dependency).
// The specifier is a variable so that bundlers leave it alone: browsers
// never get here, they have a global WebSocket.
async function loadNodeWebSocket(): Promise<void> {
  const name = 'ws';
  try {
    const m = (await import(/* webpackIgnore: true */ /* @vite-ignore */ name)) as { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor };
    nodeWebSocket = m.WebSocket ?? m.default;
  } catch {
    // not installed: dial reports what to install
  }
  nodeWebSocketLoaded = true;
}
