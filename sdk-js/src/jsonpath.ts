// Record paths ("position.x", "tags[2]", "a.b[0].c", "[0]") with the same
// grammar and semantics as the server's codec/jsonpath, so a change applied
// locally gives exactly the document the server computes:
//
//   - get follows keys only into objects and indexes only into arrays;
//   - set creates what is missing (an object for a key, an array for an
//     index, padding with null) and replaces a step of the wrong kind;
//   - erase removes an object member or an array element (later elements
//     shift down); erasing what is not there changes nothing.
//
// Documents are immutable: set and erase copy only the containers on the
// path (structural sharing) and freeze them, so unchanged subtrees keep
// their identity, which lets path subscriptions skip them cheaply.

import type { Json } from './json';

/** A parsed path: object keys (strings) and array indexes (numbers). */
export type Segments = readonly (string | number)[];

/** The largest index a path may hold (server: jsonpath.MaxIndex). */
export const MAX_INDEX = 1_000_000;
/** The most segments a path may have (server: jsonpath.MaxDepth). */
export const MAX_DEPTH = 512;

const cache = new Map<string, Segments>();
const CACHE_LIMIT = 1024;
const ROOT: Segments = Object.freeze([]);

function syntax(msg: string, at: number): never {
  throw new TypeError(`eddy: invalid path: ${msg} at offset ${at}`);
}

/** parsePath checks p against the path grammar; "" is the whole document. */
export function parsePath(p: string): Segments {
  if (p === '') return ROOT;
  const hit = cache.get(p);
  if (hit) return hit;
  const segs: (string | number)[] = [];
  let i = 0;
  let expectKey = true; // at the start or after '.'
  while (i < p.length) {
    const c = p[i];
    if (c === '[') {
      if (expectKey && i > 0) syntax('empty key', i);
      const start = i + 1;
      let j = start;
      while (j < p.length && p[j]! >= '0' && p[j]! <= '9') j++;
      if (j === start) syntax('index must be a non-negative decimal integer', start);
      if (j >= p.length) syntax("missing ']'", j);
      if (p[j] !== ']') syntax('index must be a non-negative decimal integer', j);
      if (p[start] === '0' && j - start > 1) syntax('leading zero in index', start);
      const n = j - start > 7 ? MAX_INDEX + 1 : Number(p.slice(start, j));
      if (n > MAX_INDEX) syntax(`index exceeds ${MAX_INDEX}`, start);
      segs.push(n);
      i = j + 1;
      if (i < p.length && p[i] !== '.' && p[i] !== '[') syntax("expected '.' or '[' after ']'", i);
      expectKey = false;
    } else if (c === ']') {
      syntax("unexpected ']'", i);
    } else if (c === '.') {
      if (expectKey) syntax('empty key', i);
      expectKey = true;
      i++;
      if (i >= p.length) syntax('empty key', i);
      if (p[i] === '.' || p[i] === '[') syntax('empty key', i);
    } else {
      if (!expectKey) syntax("expected '.' or '['", i);
      let j = i;
      while (j < p.length && p[j] !== '.' && p[j] !== '[' && p[j] !== ']') j++;
      segs.push(p.slice(i, j));
      i = j;
      expectKey = false;
    }
    if (segs.length > MAX_DEPTH) syntax(`more than ${MAX_DEPTH} segments`, i);
  }
  Object.freeze(segs);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(p, segs);
  return segs;
}

type Obj = { [key: string]: Json };

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

// put sets o[k] as an own data property, "__proto__" included.
function put(o: Obj, k: string, v: Json): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function copyObject(o: Obj, skip?: string): Obj {
  const out: Obj = {};
  for (const k of Object.keys(o)) if (k !== skip) put(out, k, o[k]!);
  return out;
}

/** getPath returns the value at segs, or undefined when the path leads nowhere. */
export function getPath(doc: Json | undefined, segs: Segments): Json | undefined {
  let node: Json | undefined = doc;
  for (const s of segs) {
    if (typeof s === 'string') {
      if (!isObject(node) || !hasOwn(node, s)) return undefined;
      node = node[s];
    } else {
      if (!Array.isArray(node) || s >= node.length) return undefined;
      node = node[s];
    }
  }
  return node;
}

/** setPath returns a document with value at segs (value must be frozen). */
export function setPath(doc: Json | undefined, segs: Segments, value: Json): Json {
  return setAt(doc, segs, 0, value);
}

function setAt(node: Json | undefined, segs: Segments, i: number, value: Json): Json {
  if (i === segs.length) return value;
  const s = segs[i]!;
  if (typeof s === 'string') {
    const base = isObject(node) ? node : undefined;
    const out = base ? copyObject(base) : {};
    put(out, s, setAt(base && hasOwn(base, s) ? base[s] : undefined, segs, i + 1, value));
    return Object.freeze(out);
  }
  const base = Array.isArray(node) ? node : undefined;
  const out: Json[] = base ? base.slice() : [];
  while (out.length < s) out.push(null);
  out[s] = setAt(base && s < base.length ? base[s] : undefined, segs, i + 1, value);
  Object.freeze(out);
  return out;
}

/** erasePath returns doc without the value at segs (doc itself when absent). */
export function erasePath(doc: Json, segs: Segments): Json {
  if (segs.length === 0) throw new TypeError('eddy: cannot erase the whole document');
  return eraseAt(doc, segs, 0);
}

function eraseAt(node: Json, segs: Segments, i: number): Json {
  const s = segs[i]!;
  const last = i === segs.length - 1;
  if (typeof s === 'string') {
    if (!isObject(node) || !hasOwn(node, s)) return node;
    if (last) return Object.freeze(copyObject(node, s));
    const child = node[s]!;
    const next = eraseAt(child, segs, i + 1);
    if (next === child) return node;
    const out = copyObject(node);
    put(out, s, next);
    return Object.freeze(out);
  }
  if (!Array.isArray(node) || s >= node.length) return node;
  const out = node.slice();
  if (last) {
    out.splice(s, 1);
    Object.freeze(out);
    return out;
  }
  const child = node[s]!;
  const next = eraseAt(child, segs, i + 1);
  if (next === child) return node;
  out[s] = next;
  Object.freeze(out);
  return out;
}
