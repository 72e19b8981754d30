package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by Get when no record of that name is stored.
var ErrNotFound = errors.New("store: record not found")

// ErrClosed is returned by every call made after Close began (Put and Delete
// pass it to their done callback).
var ErrClosed = errors.New("store: closed")

// ErrInvalid is wrapped by the errors returned for a name or version the
// store refuses (see CheckName).
var ErrInvalid = errors.New("store: invalid argument")

// MaxNameLen is the longest record name, in bytes, a store accepts.
const MaxNameLen = 16 << 10

// Record is one stored version of a named JSON document.
type Record struct {
	Version int64
	Data    []byte // the JSON document; read-only for whoever receives it
}

// Store is a durable map from record names to their latest Record, written
// behind: writes are queued, coalesced per name and committed in batches by
// one writer goroutine. It is implemented by store/mem and store/pebble, and
// both pass storetest.Run.
//
// Every method is safe for concurrent use from any goroutine, but Get, Scan,
// Sync and Close may block on disk, so event loops call them elsewhere.
type Store interface {
	// Get returns the latest record written under name, including writes
	// still queued and not yet synced (read-your-writes), or ErrNotFound.
	// r.Data must not be modified; it stays valid after the call.
	Get(name string) (Record, error)

	// Put queues name at version with data. Writes to the same name that are
	// queued before the next commit coalesce: only the newest call's value is
	// written. done (may be nil) runs exactly once: on the writer goroutine,
	// with nil or the commit error, after the batch holding this write (or a
	// newer write of the same name) is synced; or, for a refused call (bad
	// name or version, store closed), at once on the caller's goroutine with
	// the error. Put never waits for the disk; it blocks only while the queue
	// holds more than Options.MaxQueueBytes. The store keeps data without
	// copying it: the caller must not modify it after the call.
	Put(name string, version int64, data []byte, done func(error))

	// Delete queues the removal of name; it coalesces with queued puts of the
	// same name and calls done under the same rules as Put.
	Delete(name string, done func(error))

	// Sync blocks until everything queued before the call is durable and the
	// done callbacks of those writes have run. It returns ctx.Err() if ctx
	// ends first (or was already done), and the commit error if a batch
	// committed while it waited failed.
	Sync(ctx context.Context) error

	// Scan calls fn for every record whose name starts with prefix, queued
	// writes included, in byte-wise name order, until fn returns false. The
	// view is consistent as of the call. r.Data is valid only until fn
	// returns. fn must not call Close.
	Scan(prefix string, fn func(name string, r Record) bool) error

	// Stats reports the queue and commit counters.
	Stats() Stats

	// Close stops accepting writes, commits everything queued, runs the
	// pending done callbacks and releases the storage. It returns the error
	// of that final commit, if any. Every later call returns ErrClosed.
	Close() error
}

// Options tunes the write-behind queue. The zero value means the defaults.
type Options struct {
	// FlushInterval is how long the writer lets a batch gather, counted from
	// the oldest queued write, before committing it. Default 2ms. A negative
	// value commits as soon as the writer is free, so batches form only while
	// a commit is in flight.
	FlushInterval time.Duration

	// MaxBatchBytes commits a batch early once its names and values exceed
	// this many bytes. Default 4 MiB.
	MaxBatchBytes int

	// MaxQueueBytes bounds the bytes held by queued and committing writes:
	// above it, Put and Delete block until the writer catches up. Default
	// 64 MiB. A single write larger than the bound is still accepted once the
	// queue has drained below it.
	MaxQueueBytes int

	// NoSync commits without fsync. Default false (every batch is synced).
	// Meant for tests and benchmarks only: with it, a crash can lose
	// acknowledged writes.
	NoSync bool
}

// Defaults of Options.
const (
	DefaultFlushInterval = 2 * time.Millisecond
	DefaultMaxBatchBytes = 4 << 20
	DefaultMaxQueueBytes = 64 << 20
)

// WithDefaults returns o with every zero or negative field (except a negative
// FlushInterval, which has its own meaning) replaced by its default.
func (o Options) WithDefaults() Options {
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = DefaultMaxQueueBytes
	}
	return o
}

// Stats is a snapshot of a store's queue and commit counters.
type Stats struct {
	QueuedWrites     int           // distinct names queued or in the batch being committed
	QueuedBytes      int64         // bytes those writes hold (names and values)
	Batches          uint64        // batches committed successfully
	FailedBatches    uint64        // batches whose commit returned an error
	LastBatchWrites  int           // names written by the last batch
	LastBatchBytes   int64         // bytes of names and values in the last batch
	LastBatchLatency time.Duration // time the last commit took, fsync included
	SyncedWrites     uint64        // Put and Delete calls acknowledged with nil, coalesced ones included
	FailedWrites     uint64        // calls whose done got a commit error
	CoalescedWrites  uint64        // calls replaced by a newer write of the same name before their commit
	BlockedWrites    uint64        // calls that had to wait for queue space
}

// CheckName reports whether the stores accept name: any byte string of 1 to
// MaxNameLen bytes (slashes, NUL, invalid UTF-8 included). The error wraps
// ErrInvalid.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty record name", ErrInvalid)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: record name of %d bytes exceeds %d", ErrInvalid, len(name), MaxNameLen)
	}
	return nil
}

func checkVersion(v int64) error {
	if v < 0 {
		return fmt.Errorf("%w: negative version %d", ErrInvalid, v)
	}
	return nil
}
