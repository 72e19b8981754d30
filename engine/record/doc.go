// Package record is the record table: named, versioned JSON documents kept
// in memory, their subscribers, and the write rules that keep every
// subscriber's copy in step.
//
// Layout: shard.Count shards, each a map from name to *Entry under the
// shard's mutex; each Entry has its own mutex for its version, document and
// subscriber list. Lock order: shard -> entry is never taken together; an
// Entry lock may be held while calling Subscriber.Deliver (which only
// appends to a connection's queue) and Persister.Put.
//
// Loading: Lookup never blocks. A miss returns nil and starts (or joins) a
// load from the Persister on a goroutine from the server's spawner; when
// the document is in memory the table calls every waiting callback, which
// the session uses to re-run the message on its own loop.
//
// Eviction: the table holds at most Options.MaxRecords entries. Above it,
// entries without subscribers are dropped; the store's read-your-writes
// guarantee makes that safe even while their last write is still queued.
//
// Concurrency: every method is safe from any goroutine.
//
// Invariants:
//  1. An entry's version grows by exactly one per accepted write, and every
//     subscriber receives each change once, in version order (deliveries
//     happen under the entry lock, in the order versions are assigned).
//  2. A stored document is always a JSON object or array.
//  3. Entry.data is never modified in place: each write installs a new
//     slice, so a document handed out by Read stays valid.
package record
