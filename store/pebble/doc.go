// Package pebble is the durable store.Store: records kept in a Pebble LSM
// database (github.com/cockroachdb/pebble) behind the shared
// store.WriteBehind queue, so it batches, coalesces and acknowledges exactly
// as store/mem does and passes the same storetest suite.
//
// # Key layout
//
//	"r/" + name  ->  uvarint(version) | encoding byte | body   (value.go)
//	"m/format"   ->  "1"   data format marker, written on first Open
//
// Names are raw bytes, so Pebble's byte-wise key order is Scan's name order,
// and a prefix scan is an iterator bounded by ["r/"+prefix, successor). Open
// refuses a directory whose format marker is not "1".
//
// # Values
//
// Values of 512 bytes or more are compressed with S2 when that saves at
// least an eighth; smaller or incompressible ones are stored raw. The
// measurements behind the choice (S2 against zstd on 200 B, 2 KiB and
// 50 KiB record JSON) are in the comment on the encodings in value.go.
// Pebble's own block compression (Snappy) stays on underneath.
//
// # Durability
//
// The queue's writer goroutine turns each batch into one Pebble batch and
// commits it with pebble.Sync (the WAL is fsynced before Commit returns)
// unless Options.NoSync; done callbacks run only after that. An acknowledged
// write is therefore in the synced WAL, and Pebble replays the WAL on Open:
// kill -9 at any moment loses no acknowledged write. TestCrashKeepsAckedWrites
// kills a writing child process at three points of its stream and checks
// every acknowledged version. Close commits what is queued, then closes
// Pebble, so a clean shutdown loses nothing.
//
// Pebble treats a failed WAL write or sync as fatal: its commit pipeline
// cannot continue, so it ends the process through Logger.Fatalf, which this
// package logs and honours (TestWALFailureIsFatal). Such a failure never
// reaches a done callback, and since nothing of the failed batch was
// acknowledged, a restart recovers every acknowledged write. Commit errors
// Pebble returns without ending the process reach the batch's done
// callbacks and Sync, and the store keeps serving (TestCommitFailure).
// Background errors (a failed flush or compaction, which Pebble retries) go
// to the standard logger prefixed "store/pebble:"; Pebble's informational
// messages are dropped.
//
// # Reads
//
// Get looks at the queue first, then does a Pebble point lookup and copies
// the (decompressed) value out: one allocation per stored hit. Scan opens a
// Pebble iterator while holding the queue's lock, so the iterator's snapshot
// and the queued writes it is merged with describe the same instant.
//
// # Memory
//
// A 32 MiB block cache and 32 MiB memtables (Pebble keeps up to two before it
// stalls writes). With that memtable size, batches up to 16 MiB go through
// the memtable rather than Pebble's large-batch path, which would flush a
// tiny table per batch. Add the queue's Options.MaxQueueBytes on top.
//
// # Concurrency
//
// As for every store.Store: all methods are safe from any goroutine; Get,
// Scan, Sync and Close may wait for the disk; done callbacks run on the
// writer goroutine. One DB per directory: Pebble locks it, and a second Open
// fails.
//
// # Figures
//
// storetest.Bench on the 2-core development machine (temporary directory on
// its virtual disk, other work running beside it: read them as orders of
// magnitude), medians of three runs:
//
//	Put, 1,024 hot names, 200 B           59 ns/op   0 allocs   ~17 M puts/s
//	Put, 65,536 names, 200 B             657 ns/op   0 allocs   ~1.2 M puts/s, commits included
//	Get, hit in the queue                 58 ns/op   0 allocs
//	Get, stored, 200 B                   1.5-2 µs    1 alloc
//	Get, stored, 2 KiB (S2)              3.5 µs      1 alloc
//	acked writes, 1 writer               ~340/s      p50 2.5 ms   p99 3.5-11 ms
//	acked writes, 64 writers             ~21 k/s     p50 2.9 ms   p99 4.5 ms   64 writes/batch
//	acked writes, 1 writer, group        ~4.2 k/s    p50 0.22 ms  p99 0.43 ms
//	acked writes, 64 writers, group      ~90 k/s     p50 0.64 ms  p99 1.7 ms   32 writes/batch
//
// "Acked" writers each wait for their done before writing again; the first
// two rows use the default 2 ms FlushInterval, "group" a negative one
// (commit whenever the writer is free, batching whatever arrives during the
// fsync). A synced commit costs about 0.2 ms here, so waiting 2 ms to gather
// a batch costs clients that wait for acks far more than it saves: group
// commit gave 12x the acked throughput for one writer and 4x for 64, at a
// quarter of the latency, for more fsyncs per second. The allocation per
// acked write at one writer is the queue's per-batch notification channel
// (one batch per write there).
package pebble
