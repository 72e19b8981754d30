// AnonymousRecord stands for whichever record its name currently points to:
// setName switches it to another record, moving every subscription along.
// Useful for "the selected item" in a user interface.

import { Emitter } from '../emitter';
import { ClientErrorCode, EddyError } from '../errors';
import { deepEqual, type Json } from '../json';
import type { PathCallback } from './core';
import type { Record } from './record';

export interface AnonymousRecordEvents {
  /** The record named by the last setName is ready. */
  ready(): void;
  /** setName switched to another record. */
  nameChanged(name: string): void;
  /** The current record was deleted. */
  delete(): void;
}

export class AnonymousRecord extends Emitter<AnonymousRecordEvents> {
  private record: Record | null = null;
  private readonly subs: [string, PathCallback][] = [];
  private discarded = false;

  /** @internal */
  constructor(private readonly open: (name: string) => Record) {
    super();
  }

  /** The current record's name; null before the first setName. */
  get name(): string | null {
    return this.record?.name ?? null;
  }

  get isReady(): boolean {
    return this.record?.isReady ?? false;
  }

  get version(): number {
    return this.record?.version ?? 0;
  }

  /**
   * setName points this handle at the record name: the previous record is
   * discarded and every subscription moves to the new one. Subscribers whose
   * value differs between the two records are called once the new one is
   * ready.
   */
  setName(name: string): Promise<void> {
    if (this.discarded) return Promise.reject(new EddyError(ClientErrorCode.RecordDestroyed, 'anonymous record discarded'));
    if (this.record?.name === name) return this.record.whenReady().then(() => undefined);
    const prev = this.record;
    const before = this.subs.map(([p]) => (prev?.isReady ? prev.get(p) : undefined));
    const next = this.open(name);
    this.record = next;
    prev?.discard();
    next.on('delete', () => {
      if (this.record === next) this.emit('delete');
    });
    // Register without triggerNow; compare old and new values once ready.
    for (const [p, cb] of this.subs) next.subscribe(p, cb);
    this.emit('nameChanged', name);
    return next.whenReady().then(() => {
      if (this.record !== next) return;
      this.subs.forEach(([p, cb], i) => {
        const v = next.get(p);
        if (!deepEqual(v, before[i])) cb(v);
      });
      this.emit('ready');
    });
  }

  async whenReady(): Promise<this> {
    if (!this.record) throw new EddyError(ClientErrorCode.RecordDestroyed, 'anonymous record has no name yet: call setName');
    await this.record.whenReady();
    return this;
  }

  get(path?: string): Json | undefined {
    return this.current().get(path);
  }

  set(data: unknown): void;
  set(path: string, value: unknown): void;
  set(...args: unknown[]): void {
    (this.current().set as (...a: unknown[]) => void)(...args);
  }

  setWithAck(data: unknown): Promise<void>;
  setWithAck(path: string, value: unknown): Promise<void>;
  setWithAck(...args: unknown[]): Promise<void> {
    return (this.current().setWithAck as (...a: unknown[]) => Promise<void>)(...args);
  }

  erase(path: string): void {
    this.current().erase(path);
  }

  subscribe(cb: PathCallback, triggerNow?: boolean): void;
  subscribe(path: string, cb: PathCallback, triggerNow?: boolean): void;
  subscribe(a: string | PathCallback, b?: PathCallback | boolean, c?: boolean): void {
    const [path, cb, now] = typeof a === 'function' ? ['', a, b === true] : [a, b as PathCallback, c === true];
    if (typeof cb !== 'function') throw new TypeError('eddy: subscribe needs a callback');
    this.subs.push([path, cb]);
    this.record?.subscribe(path, cb, now);
  }

  unsubscribe(a?: string | PathCallback, b?: PathCallback): void {
    const [path, cb] = typeof a === 'function' ? ['', a] : [a, b];
    for (let i = this.subs.length - 1; i >= 0; i--) {
      const [p, f] = this.subs[i]!;
      if ((path === undefined || p === path) && (cb === undefined || f === cb)) this.subs.splice(i, 1);
    }
    this.record?.unsubscribe(a as string, b as PathCallback);
  }

  /** discard releases the current record; the handle cannot be used again. */
  discard(): void {
    this.discarded = true;
    this.record?.discard();
    this.record = null;
    this.subs.length = 0;
  }

  delete(): Promise<void> {
    return this.current().delete();
  }

  private current(): Record {
    if (!this.record) throw new EddyError(ClientErrorCode.RecordDestroyed, 'anonymous record has no name yet: call setName');
    return this.record;
  }
}
