// Record is the handle getRecord returns: every call returns a new handle on
// the one shared local copy of the record. A handle's subscriptions end with
// its discard(); the last handle discarded ends the server subscription.

import { Emitter } from '../emitter';
import type { EddyError } from '../errors';
import { encodeValue, isDocument, type Json } from '../json';
import { parsePath } from '../jsonpath';
import type { CoreOwner, Op, PathCallback, RecordCore } from './core';

export interface RecordEvents {
  /** The first copy of the record arrived. */
  ready(): void;
  /** The record was deleted, by this client or another one. */
  delete(): void;
  /** This handle was discarded. */
  discard(): void;
}

/** Arguments of set(): a whole document, or a path and a value. */
function toOp(args: unknown[], what: string): Op {
  if (args.length === 1) {
    const { value, bytes } = encodeValue(args[0]);
    if (!isDocument(value)) throw new TypeError(`eddy: ${what}(data): a whole record must be an object or array`);
    return { path: '', segs: [], value, bytes };
  }
  if (args.length !== 2) throw new TypeError(`eddy: ${what} takes (data) or (path, value)`);
  const path = args[0];
  if (typeof path !== 'string') throw new TypeError(`eddy: ${what}: the path must be a string`);
  const segs = parsePath(path);
  if (args[1] === undefined) {
    if (segs.length === 0) throw new TypeError(`eddy: ${what}: cannot erase the whole record`);
    return { path, segs, value: undefined };
  }
  const { value, bytes } = encodeValue(args[1]);
  if (segs.length === 0 && !isDocument(value)) throw new TypeError(`eddy: ${what}: a whole record must be an object or array`);
  return { path, segs, value, bytes };
}

export class Record extends Emitter<RecordEvents> implements CoreOwner {
  private subs: [string, PathCallback][] = [];
  private discarded = false;

  /** @internal */
  constructor(private readonly core: RecordCore) {
    super();
    core.addOwner(this);
  }

  /** The record's name. */
  get name(): string {
    return this.core.name;
  }

  /** Whether the record's data has arrived. */
  get isReady(): boolean {
    return this.core.ready;
  }

  /** Whether the record was deleted or this handle discarded. */
  get isDestroyed(): boolean {
    return this.discarded || this.core.destroyed;
  }

  /** The version of the local copy (0: new). */
  get version(): number {
    return this.core.version;
  }

  /** whenReady resolves with this handle once the record's data arrived. */
  async whenReady(): Promise<this> {
    await this.core.whenReady();
    return this;
  }

  /**
   * get returns the whole document, or the value at path (undefined when the
   * path leads nowhere). Values are frozen: copy them (structuredClone)
   * before changing them.
   */
  get(path?: string): Json | undefined {
    return this.core.get(path);
  }

  /**
   * set(data) replaces the whole record (an object or array); set(path,
   * value) sets one path ("position.x", "tags[2]"), creating what is missing;
   * set(path, undefined) erases the path. The change applies locally at once
   * and is sent with the next version.
   */
  set(data: unknown): void;
  set(path: string, value: unknown): void;
  set(...args: unknown[]): void {
    this.live().write(toOp(args, 'set'));
  }

  /** setWithAck is set that resolves once the server stored the write. */
  setWithAck(data: unknown): Promise<void>;
  setWithAck(path: string, value: unknown): Promise<void>;
  setWithAck(...args: unknown[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.live().write(toOp(args, 'setWithAck'), { id: 0, resolve, reject });
    });
  }

  /**
   * @internal modify replaces the whole record with what fn computes from
   * the current document; fn runs again on the server's document if the
   * write loses a version race or was made offline (see Op.transform).
   */
  modify(fn: (doc: Json, uncertain: boolean) => Json): void {
    this.live().write({ path: '', segs: [], value: undefined, transform: fn });
  }

    /** erase removes the value at path (an object member or array element). */
  erase(path: string): void {
    this.live().write(toOp([path, undefined], 'erase'));
  }

  /** eraseWithAck is erase that resolves once the server stored it. */
  eraseWithAck(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.live().write(toOp([path, undefined], 'eraseWithAck'), { id: 0, resolve, reject });
    });
  }

  /**
   * subscribe(cb, triggerNow?) calls cb with the whole document after every
   * change; subscribe(path, cb, triggerNow?) calls cb with the value at path
   * when that value changed (compared deeply). With triggerNow, cb also runs
   * at once (or as soon as the record is ready).
   */
  subscribe(cb: PathCallback, triggerNow?: boolean): void;
  subscribe(path: string, cb: PathCallback, triggerNow?: boolean): void;
  subscribe(a: string | PathCallback, b?: PathCallback | boolean, c?: boolean): void {
    const [path, cb, now] = typeof a === 'function' ? ['', a, b === true] : [a, b, c === true];
    if (typeof path !== 'string') throw new TypeError('eddy: subscribe: the path must be a string');
    if (typeof cb !== 'function') throw new TypeError('eddy: subscribe needs a callback');
    const core = this.live();
    parsePath(path);
    this.subs.push([path, cb]);
    core.subscribe(path, cb, now);
  }

  /** unsubscribe removes cb from path ("" or omitted: the whole record), or
   * every callback of this handle on that path when cb is omitted, or all of
   * this handle's callbacks when called without arguments. */
  unsubscribe(a?: string | PathCallback, b?: PathCallback): void {
    const [path, cb] = typeof a === 'function' ? ['', a] : [a, b];
    this.subs = this.subs.filter(([p, f]) => {
      const match = (path === undefined || p === path) && (cb === undefined || f === cb);
      if (match) this.core.unsubscribe(p, f);
      return !match;
    });
  }

  /** discard ends this handle: its subscriptions go, and with the last
   * handle of the record the server subscription ends too. */
  discard(): void {
    if (this.discarded) return;
    this.unsubscribe();
    this.discarded = true;
    this.core.release(this);
    this.emit('discard');
    this.off('ready');
    this.off('delete');
  }

  /** delete deletes the record on the server, for every client. */
  delete(): Promise<void> {
    return this.core.delete();
  }

  /** @internal */
  ready(): void {
    this.emit('ready');
  }

  /** @internal */
  destroyed(deleted: boolean, _err: EddyError): void {
    this.subs = [];
    if (deleted) this.emit('delete');
  }

  private live(): RecordCore {
    if (this.discarded) throw this.core.destroyedError();
    if (this.core.destroyed) throw this.core.destroyedError();
    return this.core;
  }
}
