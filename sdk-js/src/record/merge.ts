// Merge strategies resolve a write conflict: the server refused a local
// write because another client wrote the same version first, and answered
// with its current document and version.

import type { Json } from '../json';

/**
 * A merge strategy gets this client's document and the server's, with their
 * versions, and returns the document to keep: an object or array. When it
 * differs from remote it is written back as the next version.
 */
export type MergeStrategy = (local: Json, remote: Json, localVersion: number, remoteVersion: number) => Json;

export const MergeStrategy = {
  /** The server's document wins; local changes since the conflict are dropped. (Default.) */
  REMOTE_WINS: ((_local: Json, remote: Json) => remote) as MergeStrategy,
  /** This client's document wins and overwrites the server's. */
  LOCAL_WINS: ((local: Json) => local) as MergeStrategy,
} as const;

/** Strategies chosen globally, per record name and per name pattern. */
export class MergeRegistry {
  private readonly byName = new Map<string, MergeStrategy>();
  private readonly byPattern: [RegExp, MergeStrategy][] = [];

  constructor(private fallback: MergeStrategy = MergeStrategy.REMOTE_WINS) {}

  /** set sets the global strategy (target omitted), one record's (a
   * string) or every matching record's (a RegExp; first match wins). */
  set(target: string | RegExp | undefined, strategy: MergeStrategy): void {
    if (typeof strategy !== 'function') throw new TypeError('eddy: a merge strategy is a function');
    if (target === undefined) this.fallback = strategy;
    else if (typeof target === 'string') this.byName.set(target, strategy);
    else if (target instanceof RegExp) {
      const i = this.byPattern.findIndex(([re]) => re.source === target.source && re.flags === target.flags);
      if (i >= 0) this.byPattern[i] = [target, strategy];
      else this.byPattern.push([target, strategy]);
    } else throw new TypeError('eddy: a merge target is a record name or a RegExp');
  }

  /** get returns the strategy for name: by name, then pattern, then global. */
  get(name: string): MergeStrategy {
    const s = this.byName.get(name);
    if (s) return s;
    for (const [re, strategy] of this.byPattern) {
      re.lastIndex = 0;
      if (re.test(name)) return strategy;
    }
    return this.fallback;
  }
}
