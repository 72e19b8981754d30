// @eddy/client: the JavaScript and TypeScript client for the Eddy realtime
// server. README.md is the guide; docs/protocol.md the wire contract.
//
// Structure:
//   client.ts      Eddy: options, login, close, the four APIs below
//   connection.ts  one WebSocket at a time: handshake, login, heartbeats,
//                  reconnection with backoff, offline queue, request/reply
//                  correlation, dispatch by topic to the handlers
//   event.ts, listen.ts, rpc.ts, presence.ts   one handler per topic
//   record/        records: handler (client.record), core (one record's
//                  synchronisation state machine), record (handles), list,
//                  anonymous, merge (strategies)
//   wire.ts        FlatBuffers encode/decode with a bounds-checking verifier
//   jsonpath.ts    record paths with the server's semantics
//   gen/           generated from protocol/schema (never edited by hand)
//
// Concurrency: everything runs on the JavaScript event loop; there is no
// locking. User callbacks are called synchronously from the dispatch of the
// message that caused them (or, for a client's own emits and writes, from
// the call itself); an exception in a callback is rethrown asynchronously
// and never interrupts the client's bookkeeping.
//
// Invariants:
//  1. Messages reach the socket only while OPEN; after each login the topic
//     handlers renew their server state before the offline queue is flushed.
//  2. A name has a server subscription exactly while it has local
//     subscribers (events, presence) or handles (records), modulo requests
//     in flight; records linger without handles only until their unsent
//     writes are sent.
//  3. A record's local copy changes only by a local write (version + 1, sent
//     at once or marked dirty), by a remote change with exactly the next
//     version, or by a (re-)read; replies that order-sensitive state depends
//     on are handled synchronously as they are dispatched.
//  4. Values handed to callbacks and returned by get() are deeply frozen.
//  5. Bytes from the server are verified before they are read; malformed
//     input closes the connection (and reconnects), never throws.

export { Eddy, type ClientEvents } from './client';
export type { LoginResult } from './connection';
export { ClientErrorCode, EddyError, ErrorCode, ErrorInfo, codeName } from './errors';
export type { EventCallback } from './event';
export type { Json } from './json';
export { EddySSE, type SSEEvents, type SSEOptions } from './sse';
export type { ListenCallback, ListenResponse } from './listen';
export { ConnectionState, type AuthFunction, type EddyOptions, type WebSocketConstructor, type WebSocketLike } from './options';
export type { PresenceCallback } from './presence';
export type { AnonymousRecord, AnonymousRecordEvents } from './record/anonymous';
export type { PathCallback } from './record/core';
export type { List, ListCallback, ListEvents } from './record/list';
export { MergeStrategy } from './record/merge';
// EddyRecord is Record under a name that does not shadow TypeScript's
// Record<K, V> utility type.
export type { Record, Record as EddyRecord, RecordEvents } from './record/record';
export type { MakeOptions, RpcProvider, RpcResponse } from './rpc';
