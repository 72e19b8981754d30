package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/eddy-realtime/eddy/store"
)

// RunReopen checks that a persistent store keeps every write across Close and
// reopening: open must return a store over the data in dir (creating it when
// empty) and report its own failures through the test.
func RunReopen(t *testing.T, open func(dir string) store.Store) {
	dir := t.TempDir()
	model := map[string][]byte{}
	versions := map[string]int64{}
	put := func(s store.Store, name string, v int64, data []byte) {
		s.Put(name, v, data, nil)
		model[name], versions[name] = data, v
	}
	del := func(s store.Store, name string) {
		s.Delete(name, nil)
		delete(model, name)
		delete(versions, name)
	}
	check := func(s store.Store, when string) {
		t.Helper()
		for name, data := range model {
			r, err := s.Get(name)
			if err != nil {
				t.Fatalf("%s: Get(%.20q): %v", when, name, err)
			}
			if r.Version != versions[name] || string(r.Data) != string(data) {
				t.Fatalf("%s: Get(%.20q) = version %d, %d bytes; want version %d, %d bytes",
					when, name, r.Version, len(r.Data), versions[name], len(data))
			}
		}
		n, prev := 0, ""
		err := s.Scan("", func(name string, r store.Record) bool {
			if n > 0 && name <= prev {
				t.Errorf("%s: Scan order %.20q after %.20q", when, name, prev)
			}
			prev = name
			n++
			if data, ok := model[name]; !ok || string(data) != string(r.Data) || versions[name] != r.Version {
				t.Errorf("%s: Scan found %.20q at version %d (in model: %v)", when, name, r.Version, ok)
			}
			return true
		})
		if err != nil {
			t.Fatalf("%s: Scan: %v", when, err)
		}
		if n != len(model) {
			t.Fatalf("%s: Scan saw %d records, want %d", when, n, len(model))
		}
	}
	closeStore := func(s store.Store) {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	// Generation 1: a mix of sizes and names, partly synced, closed without
	// a final Sync: Close must flush.
	s := open(dir)
	for i := range 300 {
		name := fmt.Sprintf("gen1/%03d", i)
		put(s, name, int64(i+1), SampleJSON(100+i*37, uint64(i)))
	}
	for i, name := range OddNames() {
		put(s, name, int64(i+1), doc(name, int64(i+1)))
	}
	put(s, "big/text", int64(1), SampleJSON(3<<20, 9))
	put(s, "big/noise", int64(2), bigJSON(1<<20, true, 10))
	put(s, "empty", 3, nil)
	syncStore(t, s)
	for i := 0; i < 300; i += 3 {
		del(s, fmt.Sprintf("gen1/%03d", i))
	}
	for i := 1; i < 300; i += 5 {
		name := fmt.Sprintf("gen1/%03d", i)
		put(s, name, versions[name]+1, SampleJSON(2048, uint64(1000+i)))
	}
	check(s, "generation 1 before Close")
	closeStore(s)

	// Generation 2: everything came back; change some more.
	s = open(dir)
	check(s, "generation 2 after reopen")
	if st := s.Stats(); st.QueuedWrites != 0 || st.Batches != 0 {
		t.Fatalf("a reopened store starts with Stats %+v", st)
	}
	del(s, "big/noise")
	put(s, "big/text", 2, []byte(`{"small":"now"}`))
	for i := range 50 {
		put(s, fmt.Sprintf("gen2/%d", i), 1, doc("gen2", 1))
	}
	closeStore(s)

	// Generation 3 and 4: reopening twice changes nothing.
	for gen := 3; gen <= 4; gen++ {
		s = open(dir)
		check(s, fmt.Sprintf("generation %d after reopen", gen))
		closeStore(s)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Close of a closed store = %v, want ErrClosed", err)
	}
}
