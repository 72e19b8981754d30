// RecordHandler is client.record: it opens records, lists and anonymous
// records, answers one-off questions (has, head, snapshot), writes without
// subscribing (setData), chooses merge strategies and listens.

import type { Connection, TopicHandler } from '../connection';
import { EddyError } from '../errors';
import { checkName } from '../event';
import { encodeValue, fromBytes, isDocument, toBytes, type Json } from '../json';
import { parsePath } from '../jsonpath';
import { Listeners, type ListenCallback } from '../listen';
import { Action, Flag, Topic, type Msg } from '../wire';
import { AnonymousRecord } from './anonymous';
import { RecordCore, type CoreEnv, type Op } from './core';
import { List } from './list';
import { MergeRegistry, type MergeStrategy } from './merge';
import { Record } from './record';

export class RecordHandler implements TopicHandler {
  private readonly cores = new Map<string, RecordCore>();
  private readonly merge: MergeRegistry;
  private readonly env: CoreEnv;
  private readonly listeners: Listeners;

  constructor(
    private readonly conn: Connection,
    private readonly reportError: (e: EddyError) => void,
    mergeStrategy?: MergeStrategy,
  ) {
    this.merge = new MergeRegistry(mergeStrategy);
    this.env = { conn, merge: this.merge, reportError, forget: (core) => this.forget(core) };
    this.listeners = new Listeners(conn, Topic.Record, reportError);
  }

  /**
   * getRecord returns a handle on the record name, reading and subscribing
   * to it; all handles of one name share one local copy. Call whenReady()
   * before relying on get(), and discard() when done.
   */
  getRecord(name: string): Record {
    checkName(name);
    let core = this.cores.get(name);
    if (!core) {
      core = new RecordCore(name, this.env);
      this.cores.set(name, core);
      core.start();
    }
    return new Record(core);
  }

  /** getList returns a list: a record holding an array of names. */
  getList(name: string): List {
    return new List(this.getRecord(name));
  }

  /** getAnonymousRecord returns a handle whose record is chosen (and changed)
   * later with setName. */
  getAnonymousRecord(): AnonymousRecord {
    return new AnonymousRecord((name) => this.getRecord(name));
  }

  /** has resolves whether the record exists on the server. */
  async has(name: string): Promise<boolean> {
    checkName(name);
    const m = await this.conn.request({ topic: Topic.Record, action: Action.Has, name });
    return (m.version ?? 0) === 1;
  }

  /** head resolves the record's version on the server; -1 when missing. */
  async head(name: string): Promise<number> {
    checkName(name);
    const m = await this.conn.request({ topic: Topic.Record, action: Action.Head, name });
    return m.version ?? 0;
  }

  /** snapshot resolves the record's document without subscribing; it rejects
   * with RecordNotFound when the record does not exist. */
  async snapshot(name: string): Promise<Json> {
    checkName(name);
    const m = await this.conn.request({ topic: Topic.Record, action: Action.Snapshot, name });
    return fromBytes(m.data, name);
  }

  /**
   * setData writes a record without subscribing and without a version check
   * (the server assigns the next version): setData(name, data) replaces the
   * whole document, setData(name, path, value) sets one path, and
   * setData(name, path, undefined) erases it. It resolves with the new
   * version once the write is stored.
   */
  setData(name: string, data: unknown): Promise<number>;
  setData(name: string, path: string, value: unknown): Promise<number>;
  setData(name: string, ...args: unknown[]): Promise<number> {
    let op: Op;
    try {
      checkName(name);
      op = forcedOp(args);
    } catch (err) {
      return Promise.reject(err);
    }
    const m: Msg = { topic: Topic.Record, action: Action.Update, name, flags: Flag.Forced | Flag.WantAck };
    if (op.value === undefined) {
      m.action = Action.ErasePath;
      m.path = op.path;
    } else {
      if (op.path !== '') {
        m.action = Action.Patch;
        m.path = op.path;
      }
      m.data = op.bytes ?? toBytes(op.value);
    }
    try {
      this.conn.checkSize(m.data?.length ?? 0, name, m.path);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.conn.call(m, (err, reply) => {
        if (err) {
          reject(err);
          return;
        }
        const version = reply!.version ?? 0;
        this.cores.get(name)?.forced(version, op);
        resolve(version);
      });
    });
  }

  /**
   * setMergeStrategy chooses how write conflicts are resolved: for every
   * record (one argument), for one record name (a string) or for names
   * matching a RegExp. Lookup order: name, patterns in the order set,
   * global.
   */
  setMergeStrategy(strategy: MergeStrategy): void;
  setMergeStrategy(target: string | RegExp, strategy: MergeStrategy): void;
  setMergeStrategy(a: string | RegExp | MergeStrategy, b?: MergeStrategy): void {
    if (typeof a === 'function') this.merge.set(undefined, a);
    else this.merge.set(a, b as MergeStrategy);
  }

  /** listen tells this client when records matching pattern gain their
   * first subscriber or lose their last; see docs/protocol.md. */
  listen(pattern: string, cb: ListenCallback): Promise<void> {
    return this.listeners.listen(pattern, cb);
  }

  unlisten(pattern: string): Promise<void> {
    return this.listeners.unlisten(pattern);
  }

  /** names returns the names of the records open on this client. */
  names(): string[] {
    return [...this.cores.keys()];
  }

  handle(m: Msg): void {
    const core = m.name !== undefined ? this.cores.get(m.name) : undefined;
    switch (m.action) {
      case Action.SubscriptionFound:
      case Action.SubscriptionRemoved:
      case Action.SubscriptionHasProvider:
        this.listeners.handle(m);
        return;
      case Action.Error:
        if (core) core.handle(m);
        else this.reportError(new EddyError(m.code ?? 0, m.reason, m.name));
        return;
      default:
        core?.handle(m);
    }
  }

  resubscribe(): void {
    for (const core of [...this.cores.values()]) core.resubscribe();
    this.listeners.resubscribe();
  }

  lost(): void {
    for (const core of this.cores.values()) core.lost();
    this.listeners.lost();
  }

  closed(err: EddyError): void {
    for (const core of [...this.cores.values()]) core.destroy(false, err);
  }

  private forget(core: RecordCore): void {
    if (this.cores.get(core.name) === core) this.cores.delete(core.name);
  }
}

function forcedOp(args: unknown[]): Op {
  if (args.length === 1) {
    const { value, bytes } = encodeValue(args[0]);
    if (!isDocument(value)) throw new TypeError('eddy: setData(name, data): a whole record must be an object or array');
    return { path: '', segs: [], value, bytes };
  }
  if (args.length !== 2 || typeof args[0] !== 'string') throw new TypeError('eddy: setData takes (name, data) or (name, path, value)');
  const path = args[0];
  const segs = parsePath(path);
  if (args[1] === undefined) {
    if (segs.length === 0) throw new TypeError('eddy: setData: cannot erase the whole record');
    return { path, segs, value: undefined };
  }
  const { value, bytes } = encodeValue(args[1]);
  if (segs.length === 0 && !isDocument(value)) throw new TypeError('eddy: setData: a whole record must be an object or array');
  return { path, segs, value, bytes };
}
