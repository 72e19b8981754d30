// Encoding and decoding of protocol messages (docs/protocol.md): one
// FlatBuffers `Message` table per WebSocket binary message. Inbound bytes are
// untrusted, so `decode` verifies every offset and length before the
// generated accessors read anything, and returns null for malformed input
// instead of throwing.

import { Builder, ByteBuffer } from 'flatbuffers';
import { Action } from './gen/fb/action';
import { Message } from './gen/fb/message';
import { Topic } from './gen/fb/topic';

export { Action, Topic };

/** Flag bits of Message.flags (protocol/schema/eddy.fbs). */
export const Flag = { WantAck: 1, Forced: 2, Immediate: 4, Notify: 8, Rebased: 16 } as const;

/** A protocol message as plain data; absent fields are undefined. */
export interface Msg {
  topic: Topic;
  action: Action;
  flags?: number;
  /** Correlation id (uint64 on the wire). */
  id?: bigint;
  name?: string;
  path?: string;
  /** Record version, protocol version or boolean result (int64 on the wire). */
  version?: number;
  data?: Uint8Array;
  names?: string[];
  code?: number;
  reason?: string;
  user?: string;
  timeoutMs?: number;
  acceptTimeoutMs?: number;
}

const builder = new Builder(256);

/** encode serialises m into a new byte array. */
export function encode(m: Msg): Uint8Array {
  const b = builder;
  b.clear();
  const name = m.name !== undefined ? b.createString(m.name) : 0;
  const path = m.path !== undefined ? b.createString(m.path) : 0;
  const data = m.data !== undefined ? b.createByteVector(m.data) : 0;
  const reason = m.reason !== undefined ? b.createString(m.reason) : 0;
  const user = m.user !== undefined ? b.createString(m.user) : 0;
  let names = 0;
  if (m.names !== undefined) {
    const offsets = m.names.map((n) => b.createString(n));
    names = Message.createNamesVector(b, offsets);
  }
  Message.startMessage(b);
  Message.addTopic(b, m.topic);
  Message.addAction(b, m.action);
  if (m.flags) Message.addFlags(b, m.flags);
  if (m.id) Message.addId(b, m.id);
  if (name) Message.addName(b, name);
  if (path) Message.addPath(b, path);
  if (m.version) Message.addVersion(b, BigInt(m.version));
  if (data) Message.addData(b, data);
  if (names) Message.addNames(b, names);
  if (m.code) Message.addCode(b, m.code);
  if (reason) Message.addReason(b, reason);
  if (user) Message.addUser(b, user);
  if (m.timeoutMs) Message.addTimeoutMs(b, m.timeoutMs);
  if (m.acceptTimeoutMs) Message.addAcceptTimeoutMs(b, m.acceptTimeoutMs);
  Message.finishMessageBuffer(b, Message.endMessage(b));
  return b.asUint8Array().slice();
}

// Inline sizes of the 14 fields, in schema order; 0 marks an offset field
// (4 bytes inline, pointing at a string or vector).
const fieldSizes = [1, 1, 2, 8, 0, 0, 8, 0, 0, 2, 0, 0, 4, 4];
const NAMES_FIELD = 8;
const DATA_FIELD = 7;

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

// vectorOK checks that a vector (or string) header at pos and its n
// elements of size elem (plus a string's terminating zero) lie in b.
function vectorOK(b: Uint8Array, pos: number, elem: number, terminator: number): boolean {
  if (pos + 4 > b.length) return false;
  const n = u32(b, pos);
  return pos + 4 + n * elem + terminator <= b.length;
}

/**
 * verify reports whether b holds a well-formed Message: the root table, its
 * vtable, every present field, string and vector lie inside b.
 */
export function verify(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const table = u32(b, 0);
  if (table + 4 > b.length) return false;
  const soffset = u32(b, table) | 0;
  const vtable = table - soffset;
  if (vtable < 0 || vtable + 4 > b.length || (vtable & 1) !== 0) return false;
  const vtSize = u16(b, vtable);
  const tableSize = u16(b, vtable + 2);
  if (vtSize < 4 || (vtSize & 1) !== 0 || vtable + vtSize > b.length) return false;
  if (tableSize < 4 || table + tableSize > b.length) return false;
  for (let i = 0; i < fieldSizes.length; i++) {
    const slot = 4 + 2 * i;
    if (slot + 2 > vtSize) break;
    const off = u16(b, vtable + slot);
    if (off === 0) continue;
    const size = fieldSizes[i]!;
    if (off + (size || 4) > tableSize) return false;
    if (size !== 0) continue;
    const field = table + off;
    const target = field + u32(b, field);
    if (i === DATA_FIELD) {
      if (!vectorOK(b, target, 1, 0)) return false;
    } else if (i === NAMES_FIELD) {
      if (!vectorOK(b, target, 4, 0)) return false;
      const n = u32(b, target);
      for (let k = 0; k < n; k++) {
        const e = target + 4 + 4 * k;
        if (!vectorOK(b, e + u32(b, e), 1, 1)) return false;
      }
    } else if (!vectorOK(b, target, 1, 1)) {
      return false;
    }
  }
  return true;
}

/** decode verifies and reads one message; null when b is malformed. */
export function decode(b: Uint8Array): Msg | null {
  if (!verify(b)) return null;
  const m = Message.getRootAsMessage(new ByteBuffer(b));
  const out: Msg = { topic: m.topic(), action: m.action() };
  const flags = m.flags();
  if (flags) out.flags = flags;
  const id = m.id();
  if (id) out.id = id;
  const name = m.name();
  if (name !== null) out.name = name;
  const path = m.path();
  if (path !== null) out.path = path;
  const version = m.version();
  if (version) out.version = Number(version);
  const data = m.dataArray();
  if (data !== null) out.data = data;
  const n = m.namesLength();
  if (n > 0) {
    const names: string[] = new Array(n);
    for (let i = 0; i < n; i++) names[i] = m.names(i);
    out.names = names;
  }
  const code = m.code();
  if (code) out.code = code;
  const reason = m.reason();
  if (reason !== null) out.reason = reason;
  const user = m.user();
  if (user !== null) out.user = user;
  const timeoutMs = m.timeoutMs();
  if (timeoutMs) out.timeoutMs = timeoutMs;
  const acceptTimeoutMs = m.acceptTimeoutMs();
  if (acceptTimeoutMs) out.acceptTimeoutMs = acceptTimeoutMs;
  return out;
}
