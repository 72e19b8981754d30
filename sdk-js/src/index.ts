// @eddy/client: the JavaScript and TypeScript client for the Eddy realtime
// server. See README.md for the guide and docs/protocol.md for the wire
// contract.

export { Eddy, type ClientEvents } from './client';
export type { LoginResult } from './connection';
export { ClientErrorCode, EddyError, ErrorCode, ErrorInfo, codeName } from './errors';
export type { EventCallback } from './event';
export type { Json } from './json';
export type { ListenCallback, ListenResponse } from './listen';
export { ConnectionState, type EddyOptions, type WebSocketConstructor, type WebSocketLike } from './options';
export type { PresenceCallback } from './presence';
export type { AnonymousRecord, AnonymousRecordEvents } from './record/anonymous';
export type { PathCallback } from './record/core';
export type { List, ListCallback, ListEvents } from './record/list';
export { MergeStrategy } from './record/merge';
export type { Record, RecordEvents } from './record/record';
export type { MakeOptions, RpcProvider, RpcResponse } from './rpc';
