// Receive-only transport over the server's server-sent-events endpoint
// (GET /sse, docs/http.md), for clients that cannot open a WebSocket. It
// reads the stream with fetch, so it runs in browsers and in Node 20+ alike,
// keeps the last event id and resumes with Last-Event-ID after any break, so
// a change is either delivered exactly once, in order, or reported as a gap.

import { Emitter } from './emitter';
import { EddyError, ErrorCode } from './errors';
import type { Json } from './json';
import { erasePath, parsePath, setPath } from './jsonpath';

/** Options of an EddySSE stream. */
export interface SSEOptions {
  /** Event names to receive. */
  events?: string[];
  /** Record names to follow. */
  records?: string[];
  /** A token for the `jwt` strategy (sent as `token`). */
  token?: string;
  /** Login data for the server's strategies (sent as `authData`). */
  authData?: Json;
  /** The fetch implementation; default the global one. */
  fetch?: typeof fetch;
  /** Reconnection delay in ms until the server says otherwise; default 1000. */
  retryMs?: number;
}

/** Callbacks of an EddySSE stream. */
export type SSEEvents = {
  /** An event was published. */
  event: (name: string, data: Json | undefined) => void;
  /** A followed record changed; doc is its whole current document. */
  record: (name: string, doc: Json, version: number) => void;
  /** A followed record was deleted (a new one streams on from version 1). */
  delete: (name: string) => void;
  /** Changes of name may have been missed (events), or a record is about
   * to be replaced by its current state. */
  gap: (topic: 'event' | 'record', name: string) => void;
  /** The catch-up after a (re)connection is over. */
  ready: () => void;
  /** The stream failed; it reconnects by itself unless the error is final. */
  error: (err: Error) => void;
};

interface Wire {
  topic: string;
  action: string;
  name?: string;
  version?: number;
  path?: string;
  data?: Json;
}

/** EddySSE follows events and records over GET /sse. */
export class EddySSE extends Emitter<SSEEvents> {
  private readonly url: string;
  private readonly fetchImpl: typeof fetch;
  private retryMs: number;
  private lastId = '';
  private abort: AbortController | null = null;
  private closed = false;
  private docs = new Map<string, { doc: Json; version: number }>();

  /** baseUrl is the server's HTTP address, e.g. http://localhost:8080. */
  constructor(baseUrl: string, opts: SSEOptions) {
    super();
    const q = new URLSearchParams();
    for (const n of opts.events ?? []) q.append('event', n);
    for (const n of opts.records ?? []) q.append('record', n);
    if (opts.token !== undefined) q.set('token', opts.token);
    if (opts.authData !== undefined) q.set('authData', JSON.stringify(opts.authData));
    this.url = baseUrl.replace(/\/$/, '') + '/sse?' + q.toString();
    const f = opts.fetch ?? globalThis.fetch;
    if (!f) throw new EddyError(0, 'no fetch implementation: pass options.fetch');
    this.fetchImpl = f.bind(globalThis);
    this.retryMs = opts.retryMs ?? 1000;
    void this.run();
  }

  /** record returns the current document and version of a followed record. */
  record(name: string): { doc: Json; version: number } | undefined {
    return this.docs.get(name);
  }

  /** close ends the stream for good. */
  close(): void {
    this.closed = true;
    this.abort?.abort();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.connect();
      } catch (err) {
        if (this.closed) return;
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
        if (err instanceof EddyError && err.code !== 0 && err.code !== ErrorCode.ServerShutdown) return; // refused: final
      }
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  private async connect(): Promise<void> {
    this.abort = new AbortController();
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    const res = await this.fetchImpl(this.url, { headers, signal: this.abort.signal });
    if (!res.ok || !res.body) {
      let code = 0;
      let message = `HTTP ${res.status}`;
      try {
        const body = (await res.json()) as { error?: string; code?: number; message?: string };
        if (typeof body.code === 'number') code = body.code;
        else if (body.error && body.error in ErrorCode) code = ErrorCode[body.error as keyof typeof ErrorCode];
        if (body.message) message = body.message;
      } catch {
        // not JSON: keep the status
      }
      throw new EddyError(res.status >= 500 ? 0 : code, message);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let id = '';
    let data = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (data) this.dispatch(data, id);
          id = '';
          data = '';
        } else if (line.startsWith('data:')) {
          data += (data ? '\n' : '') + line.slice(5).replace(/^ /, '');
        } else if (line.startsWith('id:')) {
          id = line.slice(3).trim();
        } else if (line.startsWith('retry:')) {
          const ms = Number(line.slice(6).trim());
          if (Number.isFinite(ms) && ms >= 0) this.retryMs = ms;
        } // ':' comments and unknown fields are ignored
      }
    }
  }

  private dispatch(raw: string, id: string): void {
    let m: Wire;
    try {
      m = JSON.parse(raw) as Wire;
    } catch {
      this.emit('error', new Error('eddy sse: a message is not JSON'));
      return;
    }
    const name = m.name ?? '';
    switch (`${m.topic}/${m.action}`) {
      case 'event/emit':
        this.emit('event', name, m.data);
        break;
      case 'event/gap':
        this.emit('gap', 'event', name);
        break;
      case 'record/gap':
        this.docs.delete(name);
        this.emit('gap', 'record', name);
        break;
      case 'record/read':
      case 'record/update':
        this.setDoc(name, m.data ?? {}, m.version ?? 0);
        break;
      case 'record/patch':
      case 'record/erase': {
        const cur = this.docs.get(name);
        const version = m.version ?? 0;
        if (!cur || version !== cur.version + 1) break; // a read or gap follows a break in order
        const segs = parsePath(m.path ?? '');
        const doc = m.action === 'patch' ? setPath(cur.doc, segs, m.data ?? null) : erasePath(cur.doc, segs);
        this.setDoc(name, doc, version);
        break;
      }
      case 'record/delete':
        this.docs.set(name, { doc: {}, version: 0 });
        this.emit('delete', name);
        break;
      case 'stream/ready':
        this.emit('ready');
        break;
      case 'stream/close':
        this.closed = true;
        this.abort?.abort();
        this.emit('error', new EddyError(ErrorCode.TokenExpired, 'the server ended the stream'));
        break;
    }
    if (id) this.lastId = id;
  }

  private setDoc(name: string, doc: Json, version: number): void {
    this.docs.set(name, { doc, version });
    this.emit('record', name, doc, version);
  }
}
