package engine

import (
	"errors"
	"fmt"

	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/store"
	"github.com/eddy-realtime/eddy/store/mem"
	"github.com/eddy-realtime/eddy/store/pebble"
)

// persister adapts a store.Store to the record table's Persister.
type persister struct{ s store.Store }

var (
	_ record.Persister = persister{}
	_ store.Store      = (*pebble.DB)(nil)
	_ store.Store      = (*mem.Store)(nil)
)

func (p persister) Get(name string) (int64, []byte, error) {
	r, err := p.s.Get(name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, record.ErrNotFound
	}
	return r.Version, r.Data, err
}

func (p persister) Put(name string, version int64, data []byte, done func(error)) {
	p.s.Put(name, version, data, done)
}

func (p persister) Delete(name string, done func(error)) { p.s.Delete(name, done) }

func openStore(o StoreOptions) (store.Store, error) {
	so := store.Options{FlushInterval: o.FlushInterval, MaxQueueBytes: o.MaxQueueBytes, NoSync: o.NoSync}
	if so.FlushInterval <= 0 {
		so.FlushInterval = -1 // commit whenever the writer is free
	}
	if o.Engine == "memory" {
		return mem.New(so), nil
	}
	db, err := pebble.Open(o.Path, so)
	if err != nil {
		return nil, fmt.Errorf("engine: store %s: %w", o.Path, err)
	}
	return db, nil
}

// recordReader serves permission rules that read other records. It reads
// the store, which includes writes still queued, so it sees every accepted
// write without taking any record lock.
type recordReader struct{ s store.Store }

func (r recordReader) ReadRecord(name string) ([]byte, bool, error) {
	rec, err := r.s.Get(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return rec.Data, true, nil
}
