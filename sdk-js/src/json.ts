// JSON helpers: the `data` field of a message is UTF-8 JSON bytes. Values
// the client keeps (record documents, event payloads handed to several
// subscribers) are deeply frozen so no callback can change what another
// sees or what the client will diff against.

import { ClientErrorCode, EddyError } from './errors';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** toBytes JSON-encodes v; undefined, functions and cycles are TypeErrors. */
export function toBytes(v: unknown): Uint8Array {
  const s = JSON.stringify(v);
  if (s === undefined) throw new TypeError('eddy: value is not JSON-encodable');
  return encoder.encode(s);
}

/** fromBytes parses JSON bytes from the server into a frozen value. */
export function fromBytes(b: Uint8Array | undefined, target?: string): Json {
  if (b === undefined || b.length === 0) return null;
  try {
    return deepFreeze(JSON.parse(decoder.decode(b)) as Json);
  } catch {
    throw new EddyError(ClientErrorCode.InvalidMessage, 'data is not valid JSON', target);
  }
}

/** cloneJSON returns a frozen deep copy of v as JSON would transport it. */
export function cloneJSON(v: unknown): Json {
  const s = JSON.stringify(v);
  if (s === undefined) throw new TypeError('eddy: value is not JSON-encodable');
  return deepFreeze(JSON.parse(s) as Json);
}

/** encodeValue returns a frozen deep copy of v and its JSON bytes, with one
 * JSON.stringify. */
export function encodeValue(v: unknown): { value: Json; bytes: Uint8Array } {
  const s = JSON.stringify(v);
  if (s === undefined) throw new TypeError('eddy: value is not JSON-encodable');
  return { value: deepFreeze(JSON.parse(s) as Json), bytes: encoder.encode(s) };
}

/** deepFreeze freezes v and everything inside it, and returns v. */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

/** deepEqual compares JSON values; object key order does not matter. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const aArr = Array.isArray(a);
  if (aArr !== Array.isArray(b)) return false;
  if (aArr) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  for (const k of keys) {
    if (!Object.prototype.hasOwnProperty.call(y, k) || !deepEqual(x[k], y[k])) return false;
  }
  return true;
}

/** isDocument reports whether v may be a whole record: an object or array. */
export function isDocument(v: unknown): v is Json[] | { [key: string]: Json } {
  return v !== null && typeof v === 'object';
}
