// Package ws implements the WebSocket protocol (RFC 6455) and its
// permessage-deflate extension (RFC 7692) as pure functions and small
// stateful parsers over byte slices, for use inside an event loop: it
// starts no goroutines, owns no connection and never blocks.
//
// # Flow
//
// The event loop hands over whatever bytes are buffered for a connection
// (gnet's Peek); a parser reports how many it fully used and the loop keeps
// the rest (Discard). n == 0 with a nil error always means "need more
// bytes", so input may break at any byte.
//
//   - Server upgrade: ParseRequest, then AppendResponse or, on error,
//     AppendHTTPError(dst, HTTPStatus(err), ...).
//   - Client upgrade: NewKey, AppendRequest, ParseResponse.
//   - Frames in: Parser.Next returns whole messages (fragments reassembled,
//     compressed messages inflated) and control frames.
//   - Frames out: AppendFrame, AppendHeader (to write a payload already
//     held elsewhere, or fragments), AppendClose, MaskBytes for clients.
//   - Compression: Compress once, then frame the result with RSV1 for any
//     number of connections; Decompress is what Parser uses to inflate.
//
// # permessage-deflate
//
// Both directions run without context takeover: every message is
// compressed on a fresh 32 KiB window, so a server compresses a fanned-out
// message once for all subscribers and keeps no per-connection deflate
// state. The server accepts the first permessage-deflate offer whose
// parameters it can honour (any of server_no_context_takeover,
// client_no_context_takeover, client_max_window_bits with or without a
// value, and server_max_window_bits only when it is 15, since our deflate
// window is always 2^15) and answers "permessage-deflate;
// server_no_context_takeover; client_no_context_takeover", adding
// "server_max_window_bits=15" when the offer carried it. The client offers
// "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
// and fails a response that drops server_no_context_takeover, adds
// client_max_window_bits, or names anything it did not offer.
//
// # Concurrency
//
// Every function is safe for concurrent use. A Parser holds one
// connection's state and belongs to one goroutine at a time. Compress and
// Decompress draw their flate state from sync.Pools.
//
// # Invariants
//
//  1. No input makes anything here panic; bad input returns an error that
//     wraps one of the package's sentinels (FuzzParser, FuzzParseRequest,
//     FuzzParseResponse, FuzzDecompress).
//  2. Splitting the input anywhere never changes what Parser.Next returns
//     (FuzzParser; byte-by-byte tests).
//  3. A message larger than Parser.MaxMessage is refused from its frame
//     header, before its payload is buffered, and inflation stops at
//     MaxMessage+1 bytes.
//  4. Parser.Next writes to its input (unmasking in place) only within
//     frames that have arrived completely, which it reports as consumed
//     unless it fails; a Frame's Payload is valid until the next call.
//  5. Steady-state parsing, framing, masking, compression and inflation
//     allocate nothing once buffers have grown (benchmarks report 0
//     allocs/op).
package ws
