// List is a record holding an array of names (of other records, usually):
// an ordered collection with entry-added, entry-removed and entry-moved
// events computed from each change.
//
// addEntry and removeEntry remember the operation, not only the array it
// produced: under REMOTE_WINS (the default) one the server refused because
// another client wrote the list first, and one made offline, is applied
// again to the server's list, so two clients adding entries at the same
// time both keep theirs. One sent just before the connection dropped may
// or may not have landed: it is applied again too, except an addition whose
// entry the list already holds. Under another strategy the local array is
// what gets merged, as for any record. setEntries replaces the list as
// given.

import { Emitter } from '../emitter';
import type { Json } from '../json';
import type { Record } from './record';

export interface ListEvents {
  ready(): void;
  delete(): void;
  discard(): void;
  /** entry was inserted at index. */
  'entry-added'(entry: string, index: number): void;
  /** entry was removed from index (its position before the change). */
  'entry-removed'(entry: string, index: number): void;
  /** entry stayed but now sits at index. */
  'entry-moved'(entry: string, index: number): void;
}

export type ListCallback = (entries: string[]) => void;

function toEntries(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.filter((e): e is string => typeof e === 'string') : [];
}

function checkEntry(entry: unknown): asserts entry is string {
  if (typeof entry !== 'string') throw new TypeError('eddy: a list entry must be a string');
}

export class List extends Emitter<ListEvents> {
  private entries: string[] = [];
  private loaded = false;
  private readonly watchers: [ListCallback, (v: Json | undefined) => void][] = [];

  /** @internal */
  constructor(private readonly record: Record) {
    super();
    record.on('ready', () => this.emit('ready'));
    record.on('delete', () => this.emit('delete'));
    record.on('discard', () => this.emit('discard'));
    record.subscribe((doc) => this.changed(toEntries(doc)), true);
  }

  get name(): string {
    return this.record.name;
  }

  get isReady(): boolean {
    return this.record.isReady;
  }

  get isDestroyed(): boolean {
    return this.record.isDestroyed;
  }

  get version(): number {
    return this.record.version;
  }

  async whenReady(): Promise<this> {
    await this.record.whenReady();
    return this;
  }

  /** getEntries returns the names in the list (a new array). */
  getEntries(): string[] {
    return toEntries(this.record.get());
  }

  isEmpty(): boolean {
    return this.getEntries().length === 0;
  }

  /** setEntries replaces the whole list. */
  setEntries(entries: string[]): void {
    if (!Array.isArray(entries)) throw new TypeError('eddy: setEntries needs an array of strings');
    entries.forEach(checkEntry);
    this.record.set(entries);
  }

  /** addEntry inserts entry at index (default: the end). Applied again to
   * a list that changed meanwhile (see the class comment), an index past
   * its end appends. */
  addEntry(entry: string, index?: number): void {
    checkEntry(entry);
    const len = this.getEntries().length;
    if (index !== undefined && (!Number.isInteger(index) || index < 0 || index > len)) {
      throw new RangeError(`eddy: index ${index} out of range`);
    }
    this.record.modify((doc, uncertain) => {
      const list = toEntries(doc);
      if (uncertain && list.includes(entry)) return list; // it probably landed
      list.splice(index === undefined ? list.length : Math.min(index, list.length), 0, entry);
      return list;
    });
  }

  /** removeEntry removes entry at index, or every occurrence of entry when
   * index is omitted. Applied again to a list that changed meanwhile, it
   * removes the occurrence nearest to index. */
  removeEntry(entry: string, index?: number): void {
    checkEntry(entry);
    const list = this.getEntries();
    if (index === undefined ? !list.includes(entry) : list[index] !== entry) return;
    let first = true;
    this.record.modify((doc) => {
      const cur = toEntries(doc);
      if (index === undefined) return cur.filter((e) => e !== entry);
      const i = first && cur[index] === entry ? index : nearest(cur, entry, index);
      first = false;
      if (i >= 0) cur.splice(i, 1);
      return cur;
    });
  }

  /** subscribe calls cb with the entries after every change (and at once,
   * or when ready, with triggerNow). */
  subscribe(cb: ListCallback, triggerNow?: boolean): void {
    const wrapper = (v: Json | undefined): void => cb(toEntries(v));
    this.watchers.push([cb, wrapper]);
    this.record.subscribe(wrapper, triggerNow);
  }

  unsubscribe(cb: ListCallback): void {
    for (let i = this.watchers.length - 1; i >= 0; i--) {
      const [f, wrapper] = this.watchers[i]!;
      if (f !== cb) continue;
      this.record.unsubscribe(wrapper);
      this.watchers.splice(i, 1);
    }
  }

  discard(): void {
    this.record.discard();
  }

  delete(): Promise<void> {
    return this.record.delete();
  }

  // changed emits the entry events between the previous entries and next;
  // the first call (the record's initial data) only records them.
  private changed(next: string[]): void {
    const prev = this.entries;
    this.entries = next;
    if (!this.loaded) {
      this.loaded = true;
      return;
    }
    const d = diffEntries(prev, next);
    for (const [entry, index] of d.removed) this.emit('entry-removed', entry, index);
    for (const [entry, index] of d.added) this.emit('entry-added', entry, index);
    for (const [entry, index] of d.moved) this.emit('entry-moved', entry, index);
  }
}

// nearest returns the index of the occurrence of entry closest to i (the
// lower one on a tie), or -1.
function nearest(list: readonly string[], entry: string, i: number): number {
  let best = -1;
  list.forEach((e, k) => {
    if (e === entry && (best < 0 || Math.abs(k - i) < Math.abs(best - i))) best = k;
  });
  return best;
}

/**
 * diffEntries compares two lists occurrence by occurrence: the k-th
 * occurrence of a name in prev matches its k-th occurrence in next. An
 * occurrence only in prev is removed (at its old index), one only in next
 * is added (at its new index), and a matched one whose index changed moved.
 */
export function diffEntries(
  prev: readonly string[],
  next: readonly string[],
): { added: [string, number][]; removed: [string, number][]; moved: [string, number][] } {
  const positions = (l: readonly string[]): Map<string, number[]> => {
    const m = new Map<string, number[]>();
    l.forEach((e, i) => {
      const p = m.get(e);
      if (p) p.push(i);
      else m.set(e, [i]);
    });
    return m;
  };
  const before = positions(prev);
  const after = positions(next);
  const added: [string, number][] = [];
  const removed: [string, number][] = [];
  const moved: [string, number][] = [];
  for (const [e, old] of before) {
    const now = after.get(e) ?? [];
    for (let k = now.length; k < old.length; k++) removed.push([e, old[k]!]);
  }
  for (const [e, now] of after) {
    const old = before.get(e) ?? [];
    for (let k = 0; k < now.length; k++) {
      if (k >= old.length) added.push([e, now[k]!]);
      else if (old[k] !== now[k]) moved.push([e, now[k]!]);
    }
  }
  const byIndex = (a: [string, number], b: [string, number]): number => a[1] - b[1];
  return { added: added.sort(byIndex), removed: removed.sort(byIndex), moved: moved.sort(byIndex) };
}
