// RPC: make requests that the server routes to one provider of the name,
// and provide names to answer requests. The server enforces the deadlines
// (accept and response timeouts); a provider's request is accepted
// automatically before its callback runs.

import type { Connection, TopicHandler } from './connection';
import { EddyError, ErrorCode } from './errors';
import { checkName } from './event';
import { fromBytes, toBytes, type Json } from './json';
import { fail, pending, resolved, track } from './reply';
import { Action, Topic, type Msg } from './wire';

/** How a provider answers one request. Only the first answer counts. */
export interface RpcResponse {
  /** The rpc name. */
  readonly name: string;
  /** The requesting user, when the server exposes it; else "". */
  readonly user: string;
  /** send answers with data (any JSON value). */
  send(data?: unknown): void;
  /** reject declines: the server tries another provider (NoRpcProvider
   * when none is left). */
  reject(): void;
  /** error fails the request; the requester gets RpcProviderError with
   * message. */
  error(message: string): void;
}

export type RpcProvider = (data: Json, response: RpcResponse) => void;

export interface MakeOptions {
  /** Deadline for the provider's response, in milliseconds (server default
   * when omitted). */
  timeoutMs?: number;
  /** Deadline for a provider to accept, in milliseconds (server default
   * when omitted). */
  acceptTimeoutMs?: number;
}

export class RpcHandler implements TopicHandler {
  private readonly providers = new Map<string, RpcProvider>();

  constructor(
    private readonly conn: Connection,
    private readonly reportError: (e: EddyError) => void,
  ) {}

  /**
   * make calls the rpc name with data (any JSON value) and resolves with the
   * provider's answer. It rejects with an EddyError: NoRpcProvider,
   * RpcAcceptTimeout, RpcResponseTimeout, RpcProviderError (message: the
   * provider's), PermissionDenied, ConnectionLost.
   */
  make(name: string, data?: unknown, opts: MakeOptions = {}): Promise<Json> {
    try {
      checkName(name);
      const m: Msg = { topic: Topic.Rpc, action: Action.Request, name };
      if (data !== undefined) m.data = toBytes(data);
      this.conn.checkSize(m.data?.length ?? 0, name);
      if (opts.timeoutMs) m.timeoutMs = Math.max(1, Math.round(opts.timeoutMs));
      if (opts.acceptTimeoutMs) m.acceptTimeoutMs = Math.max(1, Math.round(opts.acceptTimeoutMs));
      // The server answers every request exactly once within its deadlines;
      // no client-side timeout is needed (a lost connection fails it).
      return this.conn.request(m, 0).then((r) => fromBytes(r.data, name));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * provide answers requests for name with fn(data, response). The promise
   * resolves once the server registered the provider (at once while
   * offline: registration then happens at the next login); a refusal
   * (RpcAlreadyProvided, PermissionDenied) rejects it when it is awaited,
   * otherwise goes to the client's error event. Providers are registered
   * again after reconnects.
   */
  provide(name: string, fn: RpcProvider): Promise<void> {
    checkName(name);
    if (typeof fn !== 'function') throw new TypeError('eddy: rpc.provide needs a callback');
    if (this.providers.has(name)) {
      const err = new EddyError(ErrorCode.RpcAlreadyProvided, 'this client already provides ' + name, name);
      const p = pending();
      // Settled once the caller had the chance to await it.
      setTimeout(() => fail([p], err, this.reportError), 0);
      return p.promise;
    }
    this.providers.set(name, fn);
    return this.sendProvide(name);
  }

  /** unprovide stops providing name; the promise resolves once the server
   * confirmed (at once while offline). */
  unprovide(name: string): Promise<void> {
    if (!this.providers.delete(name)) return resolved();
    return track(this.conn.requestNow({ topic: Topic.Rpc, action: Action.Unprovide, name }), this.reportError);
  }

  /** names returns the rpc names this client provides. */
  names(): string[] {
    return [...this.providers.keys()];
  }

  handle(m: Msg): void {
    switch (m.action) {
      case Action.Request:
        this.onRequest(m);
        return;
      case Action.Accept:
        return; // a provider took one of our requests; the answer follows
      case Action.Error:
      case Action.RequestError:
        // RpcUnknownRequest answers a provider's late answer: nobody waits
        // for it any more, which is not an error of this client.
        if (m.code !== ErrorCode.RpcUnknownRequest) this.reportError(new EddyError(m.code ?? 0, m.reason, m.name));
        return;
      default:
        return;
    }
  }

  resubscribe(): void {
    for (const name of this.providers.keys()) void this.sendProvide(name);
  }

  private sendProvide(name: string): Promise<void> {
    const req = this.conn.requestNow({ topic: Topic.Rpc, action: Action.Provide, name });
    return track(req, this.reportError, () => this.providers.delete(name));
  }

  private onRequest(m: Msg): void {
    const id = m.id ?? 0n;
    const name = m.name ?? '';
    const fn = this.providers.get(name);
    const reply = (action: Action, extra: Partial<Msg> = {}): void => {
      this.conn.sendNow({ topic: Topic.Rpc, action, id, ...extra });
    };
    if (!fn) {
      reply(Action.Reject);
      return;
    }
    let data: Json;
    try {
      data = fromBytes(m.data, name);
    } catch {
      reply(Action.RequestError, { reason: 'request data is not valid JSON' });
      return;
    }
    reply(Action.Accept);
    let done = false;
    const once = (f: () => void): void => {
      if (done) return;
      done = true;
      f();
    };
    const response: RpcResponse = {
      name,
      user: m.user ?? '',
      send: (v?: unknown) =>
        once(() => {
          let bytes: Uint8Array | undefined;
          try {
            bytes = v === undefined ? undefined : toBytes(v);
          } catch (err) {
            reply(Action.RequestError, { reason: `response is not JSON: ${(err as Error).message}` });
            return;
          }
          reply(Action.Response, bytes ? { data: bytes } : {});
        }),
      reject: () => once(() => reply(Action.Reject)),
      error: (message: string) => once(() => reply(Action.RequestError, { reason: String(message || 'provider error') })),
    };
    try {
      fn(data, response);
    } catch (err) {
      // A provider that throws fails the request with its message.
      response.error(err instanceof Error ? err.message : String(err));
    }
  }
}
