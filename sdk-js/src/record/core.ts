// RecordCore keeps one record's local copy in step with the server. Every
// handle returned by getRecord(name) for the same name shares one core.
//
// Versions: a local write applies at once and is sent with version =
// current+1. The server applies exactly current+1; when another client got
// there first it answers VersionExists with its version and document, and
// the merge strategy decides what to keep; a merged document that differs
// from the server's is written back as the next version.
//
// What the core knows about the server's copy:
//   - `base`: the last version and document confirmed by the server (a
//     ReadResult, an applied remote change, a WriteAck);
//   - `history`: the documents after each write sent since then, not yet
//     confirmed;
//   - `dirty`: local changes made while they could not be sent (offline, or
//     during a re-read).
// After a reconnect (or a gap in the versions received) the core reads the
// record again; if the server's document is the base or one of the history
// entries, nobody else wrote and the local document is simply newer: it is
// written back without asking the merge strategy. Otherwise the strategy
// resolves the conflict.
//
// Ordering: replies to the core's requests are handled synchronously as
// they are dispatched (Connection.call), so they are ordered with the
// remote changes around them. While a re-read is in flight, remote changes
// are ignored: the ReadResult covers every change before it, and the server
// sends every later change after it.

import type { Connection } from '../connection';
import { ClientErrorCode, EddyError, ErrorCode, rethrowLater } from '../errors';
import { cloneJSON, deepEqual, deepFreeze, encodeValue, fromBytes, isDocument, toBytes, type Json } from '../json';
import { erasePath, getPath, parsePath, setPath, type Segments } from '../jsonpath';
import { Action, Flag, Topic, type Msg } from '../wire';
import { MergeStrategy, type MergeRegistry } from './merge';

export type PathCallback = (value: Json | undefined) => void;

/** A local write: a value at a path ("" = whole document), or an erase. */
export interface Op {
  path: string;
  segs: Segments;
  /** The frozen value to set; undefined erases the path. */
  value: Json | undefined;
  /** value as JSON, when already encoded. */
  bytes?: Uint8Array;
  /**
   * transform, when set, computes the whole document from the current one
   * (a list operation); value is then filled in when the op applies. It is
   * kept until the server stored the write, and applied again on top of
   * the server's document when the write lost a version race (under
   * REMOTE_WINS) or was made offline, so the operation is not lost.
   * uncertain says the write may have landed already (the connection
   * dropped before its answer).
   */
  transform?: (doc: Json, uncertain: boolean) => Json;
}

/** A transform op whose effect the server has not confirmed yet. */
interface Pending {
  transform: (doc: Json, uncertain: boolean) => Json;
  /** The id of the write carrying it; 0 while not sent. */
  id: number;
  /** dirty: not sent; sent: awaiting its answer; refused: VersionExists;
   * uncertain: the connection dropped before the answer. */
  state: 'dirty' | 'sent' | 'refused' | 'uncertain';
}

interface AckWaiter {
  /** The id of the write that must be acknowledged; 0 while not sent. */
  id: number;
  resolve(): void;
  reject(e: EddyError): void;
}

interface Sub {
  segs: Segments;
  cbs: PathCallback[];
  /** callbacks to call once the record is ready (subscribed with triggerNow). */
  pending: PathCallback[];
}

/** What a core needs from its handles. */
export interface CoreOwner {
  ready(): void;
  destroyed(deleted: boolean, err: EddyError): void;
}

export interface CoreEnv {
  conn: Connection;
  merge: MergeRegistry;
  reportError(e: EddyError): void;
  /** forget removes the core from the registry. */
  forget(core: RecordCore): void;
}

const EMPTY: Json = deepFreeze({});
const HISTORY_LIMIT = 64;

export class RecordCore {
  data: Json = EMPTY;
  version = 0;
  ready = false;
  destroyed = false;
  readonly owners = new Set<CoreOwner>();

  private base = { version: 0, doc: EMPTY };
  private history: { version: number; doc: Json }[] = [];
  private dirty = false;
  private resyncing = false;
  // A remote change conflicted with a write of ours: the VersionExists
  // answering that write is awaited.
  private awaitingConflict = false;
  // VersionExists answers to writes with ids below this are stale.
  private ignoreBefore = 0;
  private lastWriteId = 0;
  private pendingOps: { op: Op; waiter: AckWaiter | undefined }[] = [];
  private transforms: Pending[] = [];
  // The server refused a write and nothing was read since: the next write,
  // computed on the document the refusal carried, says so (Flag.Rebased)
  // or the server holds it back too.
  private rebase = false;
  private ackWaiters: AckWaiter[] = [];
  private readyWaiters: { resolve(): void; reject(e: EddyError): void }[] = [];
  private readonly subs = new Map<string, Sub>();

  constructor(
    readonly name: string,
    private readonly env: CoreEnv,
  ) {}

  // ---- reading ----

  /** start reads (and subscribes to) the record when connected; otherwise
   * the read happens on login (resubscribe). */
  start(): void {
    this.read(0);
  }

  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.destroyed) return Promise.reject(this.destroyedError());
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  get(path?: string): Json | undefined {
    if (path === undefined || path === '') return this.data;
    return getPath(this.data, parsePath(path));
  }

  private read(version: number): void {
    this.rebase = false; // the Read ends the server's hold
    const m: Msg = { topic: Topic.Record, action: Action.Read, name: this.name };
    if (version > 0) m.version = version;
    const sent = this.env.conn.call(m, (err, reply) => this.onRead(err, reply), { now: true });
    this.resyncing = sent && this.ready;
  }

  private onRead(err: EddyError | null, m: Msg | null): void {
    if (this.destroyed) return;
    this.resyncing = false;
    if (err) {
      if (err.code === ClientErrorCode.ConnectionLost || err.code === ClientErrorCode.ClientClosed) return;
      this.env.reportError(err);
      if (!this.ready) {
        const waiters = this.readyWaiters;
        this.readyWaiters = [];
        for (const w of waiters) w.reject(err);
      }
      return;
    }
    const S = m!.version ?? 0;
    let remote: Json | undefined;
    if (m!.data !== undefined) {
      try {
        remote = fromBytes(m!.data, this.name);
      } catch (e) {
        this.env.reportError(e as EddyError);
        return;
      }
      if (!isDocument(remote)) remote = EMPTY;
    }
    if (!this.ready) this.first(S, remote ?? EMPTY);
    else this.reconcile(S, remote);
    this.releaseIfIdle();
  }

  // first installs the initial document and replays writes made before it.
  private first(S: number, doc: Json): void {
    this.data = doc;
    this.version = S;
    this.base = { version: S, doc };
    this.ready = true;
    const ops = this.pendingOps;
    this.pendingOps = [];
    for (const { op, waiter } of ops) this.write(op, waiter);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.resolve();
    for (const o of [...this.owners]) o.ready();
    for (const sub of this.subs.values()) {
      const cbs = sub.pending;
      sub.pending = [];
      const v = getPath(this.data, sub.segs);
      for (const cb of cbs) call(cb, v);
    }
  }

  // reconcile handles a re-read: S and remote are the server's version and
  // document (remote undefined when the server omitted it because the
  // version asked for was not older than its own).
  private reconcile(S: number, remote: Json | undefined): void {
    const local = this.data;
    const known = remote === undefined ? S === this.base.version || S < this.base.version : this.isKnown(S, remote);
    if (remote === undefined) remote = S === this.base.version ? this.base.doc : undefined;
    this.dirty = false;
    this.history = [];
    // Every refusal of a write sent before the Read came before its
    // answer: a transform still awaiting its answer landed.
    this.transforms = this.transforms.filter((t) => t.state !== 'sent');
    if (remote !== undefined && deepEqual(local, remote)) {
      this.transforms = [];
      this.adopt(remote, S);
      return;
    }
    if (known || remote === undefined) {
      // Nobody else wrote since what we know: ours is simply newer.
      this.base = { version: S, doc: remote ?? EMPTY };
      this.version = S;
      this.sendWhole(local);
      return;
    }
    this.resolve(local, remote, S);
  }

  private isKnown(S: number, remote: Json): boolean {
    if (S === this.base.version && deepEqual(remote, this.base.doc)) return true;
    return this.history.some((h) => h.version === S && deepEqual(remote, h.doc));
  }

  // resolve asks the merge strategy and keeps or writes back its result.
  private resolve(local: Json, remote: Json, S: number): void {
    let merged: Json = remote;
    const strategy = this.env.merge.get(this.name);
    if (strategy === MergeStrategy.REMOTE_WINS) {
      // The server's document wins; the list operations not in it apply
      // again on top of it.
      merged = this.replay(remote);
    } else {
      this.transforms = []; // their effect is in local, which the strategy merges
      try {
        merged = strategy(local, remote, this.version, S);
        if (!isDocument(merged)) throw new TypeError('eddy: a merge strategy must return an object or array');
        merged = cloneJSON(merged);
      } catch (err) {
        this.env.reportError(new EddyError(ErrorCode.VersionExists, `merge of ${this.name} failed: ${(err as Error).message}`, this.name));
        merged = remote;
      }
    }
    this.base = { version: S, doc: remote };
    if (deepEqual(merged, remote)) {
      this.transforms = [];
      this.adopt(remote, S);
      return;
    }
    this.version = S;
    this.sendWhole(merged);
  }

  // adopt takes the server's document as the local one.
  private adopt(doc: Json, S: number): void {
    this.transforms = []; // the server's document is ours: nothing left to apply
    const old = this.data;
    this.data = doc;
    this.version = S;
    this.base = { version: S, doc };
    this.history = [];
    this.settleWaiters(0, null);
    this.notify(old);
  }

  // sendWhole writes doc as the next version, taking over every waiting
  // setWithAck, which now depends on this write.
  private sendWhole(doc: Json): void {
    const old = this.data;
    this.data = doc;
    this.version++;
    const id = this.env.conn.newId();
    const waiting = this.ackWaiters.length > 0 || this.transforms.length > 0;
    for (const w of this.ackWaiters) w.id = id;
    for (const t of this.transforms) {
      t.id = id;
      t.state = 'sent';
    }
    this.transmit(id, { path: '', segs: [], value: doc }, waiting);
    this.notify(old);
  }

  // replay applies the transform ops whose effect the server lacks to doc,
  // in the order they were made; one that fails (its list no longer fits
  // it) is dropped and reported.
  private replay(doc: Json): Json {
    const kept: Pending[] = [];
    for (const t of this.transforms) {
      try {
        const next = t.transform(doc, t.state === 'uncertain');
        if (!isDocument(next)) throw new TypeError('not an object or array');
        doc = cloneJSON(next);
        kept.push(t);
      } catch (err) {
        this.env.reportError(new EddyError(ErrorCode.VersionExists, `${this.name}: a list operation could not be applied again: ${(err as Error).message}`, this.name));
      }
    }
    this.transforms = kept;
    return doc;
  }

  // ---- writing ----

  /** write applies op locally and sends it; waiter (setWithAck) settles once
   * the server acknowledged the write or a merge replaced it. */
  write(op: Op, waiter?: AckWaiter): void {
    if (this.destroyed) throw this.destroyedError();
    this.env.conn.checkSend(this.name);
    if (op.transform && !this.ready) {
      this.pendingOps.push({ op, waiter }); // computed on the document once read
      return;
    }
    if (op.transform) {
      const value = op.transform(this.data, false);
      if (!isDocument(value)) throw new TypeError('eddy: a whole record must be an object or array');
      op = { ...op, path: '', segs: [], ...encodeValue(value) };
    }
    if (op.value !== undefined && !op.bytes) op.bytes = toBytes(op.value);
    this.env.conn.checkSize(op.bytes?.length ?? 0, this.name, op.path);
    if (!this.ready) {
      this.pendingOps.push({ op, waiter });
      return;
    }
    const old = this.data;
    let doc: Json;
    if (op.value === undefined) {
      doc = erasePath(old, op.segs);
    } else {
      // Setting a value equal to the one there changes nothing (whatever
      // containers setPath copied on the way hold equal contents).
      const before = getPath(old, op.segs);
      doc = before !== undefined && deepEqual(before, op.value) ? old : setPath(old, op.segs, op.value);
    }
    if (doc === old) {
      waiter?.resolve();
      return;
    }
    this.data = doc;
    this.version++;
    if (waiter) this.ackWaiters.push(waiter);
    if (this.env.conn.isOpen && !this.resyncing) {
      const id = this.env.conn.newId();
      if (waiter) waiter.id = id;
      if (op.transform) this.transforms.push({ transform: op.transform, id, state: 'sent' });
      this.transmit(id, op, waiter !== undefined || op.transform !== undefined);
    } else {
      this.dirty = true;
      if (op.transform) this.transforms.push({ transform: op.transform, id: 0, state: 'dirty' });
    }
    this.notify(old);
  }

  private transmit(id: number, op: Op, wantAck: boolean): void {
    const m: Msg = { topic: Topic.Record, action: Action.Update, name: this.name, version: this.version, id: BigInt(id) };
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
    if (wantAck) m.flags = Flag.WantAck;
    if (this.rebase) {
      m.flags = (m.flags ?? 0) | Flag.Rebased;
      this.rebase = false;
    }
    this.lastWriteId = id;
    this.history.push({ version: this.version, doc: this.data });
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
    this.env.conn.sendNow(m);
  }

  /** forced is called after a forced write (setData) by this client was
   * acknowledged at version; the server does not echo it, so it is applied
   * here when it is the next version, and re-read otherwise. */
  forced(version: number, op: Op): void {
    if (!this.ready || this.destroyed) return;
    if (version === this.version + 1 && this.history.length === 0 && !this.dirty && !this.resyncing) {
      this.applyRemote(version, (doc) => (op.value === undefined ? erasePath(doc, op.segs) : setPath(doc, op.segs, op.value)));
    } else if (version > this.version) {
      this.resync(false);
    }
  }

  // ---- remote changes ----

  handle(m: Msg): void {
    if (this.destroyed) return;
    switch (m.action) {
      case Action.Update:
      case Action.Patch:
      case Action.ErasePath:
        this.onChange(m);
        return;
      case Action.VersionExists:
        this.onVersionExists(m);
        return;
      case Action.WriteAck:
        this.onWriteAck(m);
        return;
      case Action.Deleted:
        this.destroy(true, new EddyError(ErrorCode.RecordNotFound, `record ${this.name} was deleted`, this.name));
        return;
      case Action.Error:
        this.onError(m);
        return;
      default:
        return;
    }
  }

  private onChange(m: Msg): void {
    if (!this.ready || this.resyncing || this.awaitingConflict) return;
    const v = m.version ?? 0;
    if (v <= this.version) {
      // Someone else's write took a version we wrote too: the server refuses
      // ours and its VersionExists carries every change up to it. Changes
      // before that answer would apply on top of our refused write, so they
      // wait for it (later ones follow it).
      if (this.history.some((h) => h.version === v)) this.awaitingConflict = true;
      return;
    }
    if (v > this.version + 1) {
      this.resync(false);
      return;
    }
    try {
      const value = m.action === Action.ErasePath ? undefined : fromBytes(m.data, this.name);
      const segs = m.action === Action.Update ? [] : parsePath(m.path ?? '');
      this.applyRemote(v, (doc) => {
        if (m.action === Action.ErasePath) return erasePath(doc, segs);
        if (m.action === Action.Update && !isDocument(value)) throw new TypeError('not a document');
        return setPath(doc, segs, value!);
      });
    } catch {
      this.resync(true);
    }
  }

  private applyRemote(v: number, change: (doc: Json) => Json): void {
    const old = this.data;
    const doc = change(old);
    this.data = doc;
    this.version = v;
    this.base = { version: v, doc };
    this.history = [];
    this.notify(old);
  }

  private onVersionExists(m: Msg): void {
    const id = Number(m.id ?? 0n);
    for (const t of this.transforms) if (t.state === 'sent' && t.id === id) t.state = 'refused';
    if (!this.ready || this.resyncing) return;
    if (id < this.ignoreBefore) return;
    this.awaitingConflict = false;
    // Writes before the refused one landed; those after it are held back
    // by the server (their refusals follow). Answers to the write-back
    // below must say it was computed after this refusal.
    this.transforms = this.transforms.filter((t) => !(t.state === 'sent' && t.id < id));
    this.rebase = true;
    let remote: Json;
    try {
      remote = fromBytes(m.data, this.name);
    } catch (err) {
      this.env.reportError(err as EddyError);
      this.resync(true);
      return;
    }
    if (!isDocument(remote)) remote = EMPTY;
    const S = m.version ?? 0;
    const later = this.lastWriteId > id;
    this.ignoreBefore = this.env.conn.newId();
    this.history = [];
    if (deepEqual(this.data, remote)) {
      this.adopt(remote, S);
    } else {
      this.resolve(this.data, remote, S);
    }
    // Writes sent after the refused one may have been applied on top of the
    // server's document; if nothing was written back, read what is there.
    if (later && this.version === S) this.resync(false);
  }

  private onWriteAck(m: Msg): void {
    const id = Number(m.id ?? 0n);
    this.transforms = this.transforms.filter((t) => t.id !== id);
    const v = m.version ?? 0;
    const i = this.history.findIndex((h) => h.version === v);
    if (i >= 0) {
      this.base = this.history[i]!;
      this.history = this.history.slice(i + 1);
    }
    this.settleWaiters(id, null);
  }

  private onError(m: Msg): void {
    const id = Number(m.id ?? 0n);
    const err = new EddyError(m.code ?? 0, m.reason, this.name);
    this.env.reportError(err);
    if (id && id <= this.lastWriteId && id >= this.ignoreBefore) {
      // A write was refused: drop local changes and take the server's copy.
      this.settleWaiters(id, err);
      this.ignoreBefore = this.env.conn.newId();
      this.resync(true);
    }
  }

  /** resync reads the record again; `fresh` discards local changes. */
  private resync(fresh: boolean): void {
    if (this.resyncing || this.destroyed) return;
    this.awaitingConflict = false;
    if (fresh) {
      this.dirty = false;
      this.transforms = [];
      this.history = [];
      this.base = { version: 0, doc: EMPTY };
    }
    const unsynced = this.dirty || this.history.length > 0 || fresh;
    this.read(unsynced ? 0 : this.version);
  }

  private settleWaiters(id: number, err: EddyError | null): void {
    const keep: AckWaiter[] = [];
    for (const w of this.ackWaiters) {
      if (id === 0 || w.id === id) {
        if (err) w.reject(err);
        else w.resolve();
      } else keep.push(w);
    }
    this.ackWaiters = keep;
  }

  // ---- connection life ----

  resubscribe(): void {
    if (this.destroyed) return;
    this.resyncing = false;
    if (!this.ready) this.read(0);
    else this.resync(false);
  }

  lost(): void {
    this.resyncing = false;
    this.awaitingConflict = false;
    // Whether writes in flight landed is unknown: their transforms apply
    // again, told so (an addition already there is not added twice).
    for (const t of this.transforms) if (t.state === 'sent') t.state = 'uncertain';
  }

  // ---- subscriptions ----

  subscribe(path: string, cb: PathCallback, triggerNow: boolean): void {
    let sub = this.subs.get(path);
    if (!sub) this.subs.set(path, (sub = { segs: parsePath(path), cbs: [], pending: [] }));
    sub.cbs.push(cb);
    if (!triggerNow) return;
    if (this.ready) call(cb, getPath(this.data, sub.segs));
    else sub.pending.push(cb);
  }

  unsubscribe(path: string, cb: PathCallback): void {
    const sub = this.subs.get(path);
    if (!sub) return;
    const i = sub.cbs.indexOf(cb);
    if (i >= 0) sub.cbs.splice(i, 1);
    const j = sub.pending.indexOf(cb);
    if (j >= 0) sub.pending.splice(j, 1);
    if (sub.cbs.length === 0) this.subs.delete(path);
  }

  // notify calls the subscribers of every path whose value changed.
  private notify(old: Json): void {
    const doc = this.data;
    if (old === doc) return;
    for (const sub of [...this.subs.values()]) {
      const before = getPath(old, sub.segs);
      const after = getPath(doc, sub.segs);
      if (before === after || deepEqual(before, after)) continue;
      for (const cb of sub.cbs.slice()) call(cb, after);
    }
  }

  // ---- end of life ----

  /** delete deletes the record on the server. */
  delete(): Promise<void> {
    if (this.destroyed) return Promise.reject(this.destroyedError());
    return new Promise((resolve, reject) => {
      this.env.conn.call({ topic: Topic.Record, action: Action.Delete, name: this.name }, (err) => {
        if (err) {
          reject(err);
          return;
        }
        this.destroy(true, new EddyError(ClientErrorCode.RecordDestroyed, `record ${this.name} was deleted`, this.name));
        resolve();
      });
    });
  }

  /**
   * release drops owner; the last one gone unsubscribes. Writes not sent
   * yet (made before the record was ready, or while offline) are sent
   * first: the core lingers, without owners, until they are.
   */
  release(owner: CoreOwner): void {
    if (!this.owners.delete(owner) || this.destroyed) return;
    this.releaseIfIdle();
  }

  /** adopt an owner again (getRecord while lingering). */
  addOwner(owner: CoreOwner): void {
    this.owners.add(owner);
  }

  private releaseIfIdle(): void {
    if (this.owners.size > 0 || this.destroyed) return;
    if (this.pendingOps.length > 0 || this.dirty || this.resyncing) return; // linger
    this.destroy(false, new EddyError(ClientErrorCode.RecordDestroyed, `record ${this.name} was discarded`, this.name));
    this.env.conn.requestNow({ topic: Topic.Record, action: Action.Unsubscribe, name: this.name })?.catch(() => undefined);
  }

  /** destroy ends the core: waiters fail with err, owners hear of it. */
  destroy(deleted: boolean, err: EddyError): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.destroyedWith = err;
    this.env.forget(this);
    const ready = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of ready) w.reject(err);
    for (const { waiter } of this.pendingOps) waiter?.reject(err);
    this.pendingOps = [];
    this.settleWaiters(0, err);
    this.subs.clear();
    for (const o of [...this.owners]) o.destroyed(deleted, err);
  }

  private destroyedWith: EddyError | null = null;

  destroyedError(): EddyError {
    return new EddyError(ClientErrorCode.RecordDestroyed, this.destroyedWith?.message, this.name);
  }
}

function call(cb: PathCallback, v: Json | undefined): void {
  try {
    cb(v);
  } catch (err) {
    rethrowLater(err);
  }
}
