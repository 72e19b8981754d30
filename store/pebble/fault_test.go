package pebble

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pebbledb "github.com/cockroachdb/pebble"

	"github.com/eddy-realtime/eddy/store"
)

func waitErr(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("done not called within 5s")
		return nil
	}
}

// TestCommitFailure fails the Pebble commit itself and checks that every
// done of the batch gets the error, the store keeps serving, and what the
// failed batch held is not on disk.
func TestCommitFailure(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("injected commit failure")
	var failing atomic.Bool
	db, err := open(dir, store.Options{}, nil, func(b *pebbledb.Batch, wo *pebbledb.WriteOptions) error {
		if failing.Load() {
			return boom
		}
		return b.Commit(wo)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Put("a", 1, []byte(`{"v":1}`), nil)
	if err := db.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	failing.Store(true)
	chans := make([]chan error, 3)
	for i := range chans {
		chans[i] = make(chan error, 1)
		ch := chans[i]
		db.Put("a", int64(2+i), []byte(`{"v":2}`), func(err error) { ch <- err })
	}
	if err := db.Sync(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want the commit error", err)
	}
	for i, ch := range chans {
		if err := waitErr(t, ch); !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "store/pebble: ") {
			t.Fatalf("done %d = %v, want the wrapped commit error", i, err)
		}
	}
	if r, err := db.Get("a"); err != nil || r.Version != 1 {
		t.Fatalf("Get after a failed commit = %+v, %v; want the stored version 1", r, err)
	}
	if st := db.Stats(); st.FailedBatches != 1 || st.FailedWrites != 3 {
		t.Fatalf("Stats = %+v", st)
	}

	failing.Store(false)
	ch := make(chan error, 1)
	db.Put("a", 5, []byte(`{"v":5}`), func(err error) { ch <- err })
	if err := waitErr(t, ch); err != nil {
		t.Fatalf("commit after recovery: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, store.Options{})
	defer db.Close()
	if r, err := db.Get("a"); err != nil || r.Version != 5 {
		t.Fatalf("after reopen Get = %+v, %v; want version 5", r, err)
	}
}
