// Errors: EddyError carries a numeric code and its name. Codes below 1000
// come from the shared catalogue (protocol/schema/errors.json, generated
// into gen/errors.ts) and are sent by the server; codes from 1000 up are
// raised by this client and never travel on the wire.

import { ErrorCode, ErrorInfo } from './gen/errors';

export { ErrorCode, ErrorInfo };

/** Codes of failures detected by the client itself. */
export const ClientErrorCode = {
  /** A request got no answer within requestTimeoutMs. */
  RequestTimeout: 1000,
  /** The connection dropped before the answer came. */
  ConnectionLost: 1001,
  /** close() was called, or the client stopped for good. */
  ClientClosed: 1002,
  /** The client is offline and offlineQueue is false. */
  NotConnected: 1003,
  /** The record was deleted or this handle was discarded. */
  RecordDestroyed: 1004,
  /** A message from the server could not be decoded or is not valid JSON. */
  InvalidMessage: 1005,
  /** The auth option's function threw, rejected, or returned a value JSON
   * cannot encode. */
  AuthFunctionFailed: 1006,
} as const;

const clientNames: Record<number, [string, string]> = {
  1000: ['RequestTimeout', 'no answer from the server in time'],
  1001: ['ConnectionLost', 'the connection was lost'],
  1002: ['ClientClosed', 'the client is closed'],
  1003: ['NotConnected', 'not connected and the offline queue is off'],
  1004: ['RecordDestroyed', 'the record was deleted or discarded'],
  1005: ['InvalidMessage', 'malformed message from the server'],
  1006: ['AuthFunctionFailed', 'the auth function failed'],
};

/** codeName returns the catalogue or client name of a code. */
export function codeName(code: number): string {
  return ErrorInfo[code]?.name ?? clientNames[code]?.[0] ?? `Code${code}`;
}

function codeMessage(code: number): string {
  return ErrorInfo[code]?.message ?? clientNames[code]?.[1] ?? 'error';
}

/**
 * EddyError is every error this client reports: `code` is a number from
 * ErrorCode or ClientErrorCode, `name` its name ("InvalidCredentials",
 * "NoRpcProvider", "RequestTimeout", ...) and `message` the server's reason
 * or the catalogue text.
 */
export class EddyError extends Error {
  readonly code: number;
  /** The record, event or rpc name the failure concerns, when known. */
  readonly target: string | undefined;

  constructor(code: number, message?: string, target?: string) {
    super(message || codeMessage(code));
    this.code = code;
    this.name = codeName(code);
    this.target = target;
  }
}

/** rethrowLater reports an exception thrown by a user callback without
 * unwinding the client's own state changes. */
export function rethrowLater(err: unknown): void {
  setTimeout(() => {
    throw err;
  }, 0);
}
