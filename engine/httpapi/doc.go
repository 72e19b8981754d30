// Package httpapi serves Eddy's HTTP endpoints: POST /api (a batch of
// record, event, rpc and presence messages for backends), GET /sse
// (server-sent events for clients that cannot hold a WebSocket), GET
// /health and GET /metrics. docs/http.md is the user-facing reference.
//
// POST /api runs through the session layer unchanged: each request becomes
// a virtual connection (netloop.Conn of kind HTTP over an in-memory
// transport) whose event loop is the request's goroutine. The handler feeds
// it a handshake, a login with the request's credentials and then one
// binary message per JSON message, waiting for each reply (matched by id)
// before sending the next; writes are forced and acknowledged once durable.
// Authentication, permissions, limits and metrics therefore apply exactly
// as for a connected client.
//
// GET /sse authenticates with the same strategies and checks each name as
// a subscribe (events) or read (records) would. A hub watches every
// streamed name once, whatever the number of streams: it is the table's
// subscriber, numbers each change with a server-wide sequence, renders it
// once as JSON, keeps the last http.sseHistory changes per name and queues
// them on the streams. A stream that resumes with Last-Event-ID gets the
// changes after that id from the history, or a gap message for each name
// whose history no longer reaches back; names stay watched for
// http.sseRetention after their last stream ends so that short
// disconnections lose nothing.
//
// Goroutines: net/http's request goroutines run the handlers (each also
// plays the loop of its virtual connection); the hub's janitor (Run) runs
// on a goroutine from the server's spawner, and so does the
// re-subscription of a deleted record's name. Table deliveries call into
// the hub from the publishers' goroutines.
//
// Invariants:
//  1. A virtual connection's Feed, Flush and Closed run only on its request
//     goroutine, and Closed runs exactly once, when the handler returns.
//  2. Within a stream, ids increase: a change is numbered and queued on
//     every stream under one lock, and the catch-up after attach ends with
//     a ready message carrying the number it started from.
//  3. A stream never skips a change silently: between the id it resumes
//     from and the moment it attaches, each name either has every change
//     in its history or yields a gap message (a record also its current
//     state); a stream that falls too far behind is ended, not trimmed.
//  4. Lock order: a record entry's lock, then the hub's; the hub never
//     calls into a table while holding its lock.
package httpapi
