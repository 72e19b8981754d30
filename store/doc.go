// Package store is Eddy's persistence layer for records: named, versioned
// JSON documents. It defines the Store contract, its errors and Options, and
// WriteBehind, the queue both implementations (store/mem, store/pebble) put
// in front of their Backend so that they batch, coalesce and acknowledge
// writes identically. store/storetest is the conformance suite they pass.
//
// # How a write travels
//
// Put and Delete add the write to the pending map under one mutex, replacing
// any queued write of the same name (coalescing) and appending the call's
// done callback to that name's list. The writer goroutine lets the batch
// gather for Options.FlushInterval from its oldest write, or less when the
// batch exceeds Options.MaxBatchBytes, Sync or Close asks, or a Put is
// waiting for queue space. It then takes the whole pending map as the
// committing batch, commits it with one Backend.Commit (fsync included unless
// Options.NoSync), and only after Commit returns runs the batch's done
// callbacks with its result. Reads see pending writes first, then the batch
// being committed, then the Backend.
//
// # Goroutines
//
// Every Store method is safe from any goroutine. Put and Delete never touch
// the disk; they block only for back-pressure. Get, Scan, Sync and Close may
// wait for the disk and belong off event loops. Done callbacks run on the
// writer goroutine, so they must be quick, must not call Sync or Close, and
// must not call Put or Delete (which may wait for space that only the writer
// frees); a typical done posts the result to the caller's event loop. A done
// refused at once (invalid argument, closed store) runs on the caller's
// goroutine instead.
//
// # Invariants
//
//  1. Exactly one done call per Put or Delete call, with nil only after the
//     batch holding that write, or a newer write of the same name, returned
//     from a synced commit.
//  2. Batches commit one at a time in the order they were taken, so the
//     stored value of a name is always that of its most recent committed
//     call; later calls win over earlier ones, whatever their versions.
//  3. Get and Scan observe every write whose Put or Delete returned
//     (read-your-writes), whether it is pending, being committed or stored.
//  4. A batch whose commit fails is not retried: its done callbacks get the
//     error, reads fall back to what is stored, and later batches proceed.
//     The caller decides whether to write again.
//  5. Close commits everything queued before it returns; after Close began,
//     calls fail with ErrClosed and the Backend is closed only after the
//     writer stopped and every in-flight Get and Scan returned.
//  6. Queued bytes stay near Options.MaxQueueBytes: a Put that finds the
//     queue full waits until a commit releases space.
//
// Names are arbitrary byte strings of 1 to MaxNameLen bytes (see CheckName);
// they order byte-wise in Scan. Versions are non-negative.
package store
