package pebble

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"sync"

	pebbledb "github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/eddy-realtime/eddy/store"
)

// Key layout.
const (
	recordPrefix = "r/"       // "r/" + name -> value (see value.go)
	formatKey    = "m/format" // data format of the directory, formatVersion in decimal
	formatValue  = "1"
)

// Pebble sizing: see "Memory" in the package documentation.
const (
	cacheSize    = 32 << 20
	memTableSize = 32 << 20
)

// Scratch buffers larger than this are dropped after a commit instead of kept.
const maxKeptScratch = 1 << 20

// DB is a store.Store on a Pebble database. Its methods are those of the
// embedded write-behind queue; see the package documentation.
type DB struct {
	*store.WriteBehind
}

var _ store.Store = (*DB)(nil)

// Open opens (creating it if needed) the Pebble database in dir and starts
// its writer goroutine. Only one DB may have dir open at a time (Pebble locks
// the directory).
func Open(dir string, opts store.Options) (*DB, error) {
	return open(dir, opts, nil, nil)
}

// open is Open with the file system and a commit replacement that tests
// inject faults through; nil means the real ones.
func open(dir string, opts store.Options, fs vfs.FS, commit func(*pebbledb.Batch, *pebbledb.WriteOptions) error) (*DB, error) {
	cache := pebbledb.NewCache(cacheSize)
	defer cache.Unref()
	popts := &pebbledb.Options{
		FormatMajorVersion: pebbledb.FormatNewest,
		FS:                 fs,
		Cache:              cache,
		MemTableSize:       memTableSize,
		Logger:             quietLogger{},
		EventListener: &pebbledb.EventListener{
			BackgroundError: func(err error) { log.Printf("store/pebble: %s: background error: %v", dir, err) },
		},
	}
	pdb, err := pebbledb.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("store/pebble: open %s: %w", dir, err)
	}
	if err := checkFormat(pdb); err != nil {
		_ = pdb.Close()
		return nil, fmt.Errorf("store/pebble: open %s: %w", dir, err)
	}
	b := &backend{db: pdb, commit: commit}
	return &DB{store.NewWriteBehind(b, opts)}, nil
}

// checkFormat writes the format marker into a new database and refuses one
// written in another format.
func checkFormat(db *pebbledb.DB) error {
	v, closer, err := db.Get([]byte(formatKey))
	if errors.Is(err, pebbledb.ErrNotFound) {
		return db.Set([]byte(formatKey), []byte(formatValue), pebbledb.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if string(v) != formatValue {
		return fmt.Errorf("unsupported data format %q (this build reads %q)", v, formatValue)
	}
	return nil
}

// quietLogger drops Pebble's informational messages (WAL replay, table
// loading); background errors reach the log through the event listener, and a
// fatal error still ends the process, as Pebble requires.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Fatalf(format string, args ...any) {
	log.Fatalf("store/pebble: "+format, args...)
}

// backend is the store.Backend over one Pebble DB.
type backend struct {
	db *pebbledb.DB
	// commit replaces Batch.Commit in fault-injection tests; nil otherwise.
	commit func(*pebbledb.Batch, *pebbledb.WriteOptions) error
	// Scratch of the writer goroutine.
	key, val []byte
}

var keyPool = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

func appendKey(dst []byte, name string) []byte {
	dst = append(dst, recordPrefix...)
	return append(dst, name...)
}

// Commit writes ws as one Pebble batch; with sync it returns after the WAL
// was fsynced. Called only from the writer goroutine.
func (b *backend) Commit(ws []store.Write, sync bool) error {
	batch := b.db.NewBatch()
	defer batch.Close()
	for _, w := range ws {
		b.key = appendKey(b.key[:0], w.Name)
		var err error
		if w.Delete {
			err = batch.Delete(b.key, nil)
		} else {
			b.val = appendValue(b.val[:0], w.Version, w.Data)
			err = batch.Set(b.key, b.val, nil)
		}
		if err != nil {
			return fmt.Errorf("store/pebble: batch: %w", err)
		}
	}
	if cap(b.val) > maxKeptScratch {
		b.val = nil
	}
	wo := pebbledb.NoSync
	if sync {
		wo = pebbledb.Sync
	}
	var err error
	if b.commit != nil {
		err = b.commit(batch, wo)
	} else {
		err = batch.Commit(wo)
	}
	if err != nil {
		return fmt.Errorf("store/pebble: commit of %d writes: %w", len(ws), err)
	}
	return nil
}

// Get reads the committed record of name; the returned data is a fresh copy.
func (b *backend) Get(name string) (store.Record, error) {
	kp := keyPool.Get().(*[]byte)
	key := appendKey((*kp)[:0], name)
	v, closer, err := b.db.Get(key)
	*kp = key
	keyPool.Put(kp)
	if errors.Is(err, pebbledb.ErrNotFound) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("store/pebble: get: %w", err)
	}
	version, data, _, err := decodeValue(v, nil, true)
	closer.Close()
	if err != nil {
		return store.Record{}, fmt.Errorf("%w (record %q)", err, name)
	}
	return store.Record{Version: version, Data: data}, nil
}

// NewCursor opens a Pebble iterator, itself a consistent point-in-time view,
// over the keys of names starting with prefix.
func (b *backend) NewCursor(prefix string) (store.Cursor, error) {
	lo := appendKey(nil, prefix)
	it, err := b.db.NewIter(&pebbledb.IterOptions{LowerBound: lo, UpperBound: successor(lo)})
	if err != nil {
		return nil, fmt.Errorf("store/pebble: scan: %w", err)
	}
	return &cursor{it: it}, nil
}

// successor returns the smallest key greater than every key starting with p,
// or nil when there is none (p is all 0xff).
func successor(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (b *backend) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store/pebble: close: %w", err)
	}
	return nil
}

type cursor struct {
	it      *pebbledb.Iterator
	started bool
	buf     []byte
}

func (c *cursor) Next() bool {
	if !c.started {
		c.started = true
		return c.it.First()
	}
	return c.it.Next()
}

func (c *cursor) Name() string { return string(c.it.Key()[len(recordPrefix):]) }

func (c *cursor) Record() (store.Record, error) {
	v, err := c.it.ValueAndErr()
	if err != nil {
		return store.Record{}, fmt.Errorf("store/pebble: scan: %w", err)
	}
	version, data, buf, err := decodeValue(v, c.buf, false)
	c.buf = buf
	if err != nil {
		return store.Record{}, fmt.Errorf("%w (record %q)", err, c.it.Key()[len(recordPrefix):])
	}
	return store.Record{Version: version, Data: data}, nil
}

func (c *cursor) Err() error {
	if err := c.it.Error(); err != nil {
		return fmt.Errorf("store/pebble: scan: %w", err)
	}
	return nil
}

func (c *cursor) Close() error {
	if err := c.it.Close(); err != nil {
		return fmt.Errorf("store/pebble: scan: %w", err)
	}
	return nil
}
