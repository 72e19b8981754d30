// Package storetest is the conformance suite every store.Store passes:
// store/mem and store/pebble call Run (and RunReopen for stores that persist)
// from their tests, and Bench from their benchmarks, so both implementations
// are held to the same contract and measured the same way.
//
// Concurrency: Run, RunReopen and Bench are called from a test's own
// goroutine; the suite starts its own goroutines and waits for them.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/store"
)

// Run checks that the stores made by open (a fresh, empty store per call,
// default Options) meet the store.Store contract. Each subtest opens its own
// store and closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"EmptyValue", testEmptyValue},
		{"ReadYourWrites", testReadYourWrites},
		{"Coalesce", testCoalesce},
		{"LastCallWins", testLastCallWins},
		{"Delete", testDelete},
		{"DeleteThenPutInOneBatch", testDeleteThenPut},
		{"Scan", testScan},
		{"ScanStop", testScanStop},
		{"Sync", testSync},
		{"DoneExactlyOnce", testDoneExactlyOnce},
		{"Concurrent", testConcurrent},
		{"LargeValues", testLargeValues},
		{"Names", testNames},
		{"Invalid", testInvalid},
		{"Stats", testStats},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// tracker hands out done callbacks and checks each is called exactly once.
type tracker struct {
	t     testing.TB
	calls []atomic.Int32
	errs  []atomic.Pointer[error]
	next  atomic.Int32
}

func newTracker(t testing.TB, n int) *tracker {
	return &tracker{t: t, calls: make([]atomic.Int32, n), errs: make([]atomic.Pointer[error], n)}
}

// done returns the callback for the next call.
func (k *tracker) done() func(error) {
	id := int(k.next.Add(1)) - 1
	if id >= len(k.calls) {
		k.t.Fatalf("tracker: more than %d callbacks requested", len(k.calls))
	}
	return func(err error) {
		if n := k.calls[id].Add(1); n > 1 {
			k.t.Errorf("done of call %d ran %d times", id, n)
		}
		if err != nil {
			k.errs[id].Store(&err)
		}
	}
}

// called returns how many of the handed-out callbacks ran.
func (k *tracker) called() int {
	n := 0
	for i := range int(k.next.Load()) {
		if k.calls[i].Load() > 0 {
			n++
		}
	}
	return n
}

// requireAll fails unless every handed-out callback ran exactly once with nil.
func (k *tracker) requireAll() {
	k.t.Helper()
	for i := range int(k.next.Load()) {
		if n := k.calls[i].Load(); n != 1 {
			k.t.Fatalf("done of call %d ran %d times, want 1", i, n)
		}
		if p := k.errs[i].Load(); p != nil {
			k.t.Fatalf("done of call %d: %v", i, *p)
		}
	}
}

func doc(name string, version int64) []byte {
	return []byte(`{"name":` + strconv.Quote(name) + `,"v":` + strconv.FormatInt(version, 10) + `}`)
}

func syncStore(t testing.TB, s store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func wantRecord(t testing.TB, s store.Store, name string, version int64, data []byte) {
	t.Helper()
	r, err := s.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	if r.Version != version || !bytes.Equal(r.Data, data) {
		t.Fatalf("Get(%q) = version %d, %d bytes %.60q; want version %d, %d bytes %.60q",
			name, r.Version, len(r.Data), r.Data, version, len(data), data)
	}
}

func wantMissing(t testing.TB, s store.Store, name string) {
	t.Helper()
	r, err := s.Get(name)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = version %d, %v; want ErrNotFound", name, r.Version, err)
	}
}

// syncDone returns a done callback and a function that waits for it and
// returns its error.
func syncDone(t testing.TB) (func(error), func() error) {
	ch := make(chan error, 2)
	return func(err error) { ch <- err }, func() error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("done not called within 10s")
			return nil
		}
	}
}

func testGetMissing(t *testing.T, s store.Store) {
	wantMissing(t, s, "nope")
	syncStore(t, s)
	wantMissing(t, s, "nope")
}

func testPutGet(t *testing.T, s store.Store) {
	done, wait := syncDone(t)
	s.Put("a", 1, doc("a", 1), done)
	wantRecord(t, s, "a", 1, doc("a", 1))
	if err := wait(); err != nil {
		t.Fatalf("done: %v", err)
	}
	wantRecord(t, s, "a", 1, doc("a", 1))
	s.Put("a", 2, doc("a", 2), nil)
	syncStore(t, s)
	wantRecord(t, s, "a", 2, doc("a", 2))
}

func testEmptyValue(t *testing.T, s store.Store) {
	s.Put("empty", 7, nil, nil)
	s.Put("zero", 0, []byte{}, nil)
	for range 2 {
		wantRecord(t, s, "empty", 7, nil)
		wantRecord(t, s, "zero", 0, nil)
		syncStore(t, s)
	}
}

func testReadYourWrites(t *testing.T, s store.Store) {
	s.Put("r", 1, doc("r", 1), nil)
	syncStore(t, s)
	// Each step is checked at once, with no Sync: whatever the writer is
	// doing, the newest call must be visible.
	for v := int64(2); v < 200; v++ {
		switch v % 4 {
		case 0:
			s.Delete("r", nil)
			wantMissing(t, s, "r")
		default:
			s.Put("r", v, doc("r", v), nil)
			wantRecord(t, s, "r", v, doc("r", v))
		}
		if v%50 == 0 {
			time.Sleep(3 * time.Millisecond) // let batches commit in between
		}
	}
	wantRecord(t, s, "r", 199, doc("r", 199))
	syncStore(t, s)
	wantRecord(t, s, "r", 199, doc("r", 199))
}

func testCoalesce(t *testing.T, s store.Store) {
	const n = 1000
	before := s.Stats()
	k := newTracker(t, n)
	for v := int64(1); v <= n; v++ {
		s.Put("hot", v, doc("hot", v), k.done())
	}
	wantRecord(t, s, "hot", n, doc("hot", n))
	syncStore(t, s)
	k.requireAll()
	wantRecord(t, s, "hot", n, doc("hot", n))
	after := s.Stats()
	if got := after.SyncedWrites - before.SyncedWrites; got != n {
		t.Errorf("SyncedWrites grew by %d, want %d", got, n)
	}
	if after.CoalescedWrites == before.CoalescedWrites {
		t.Errorf("no write coalesced in %d back-to-back puts of one name", n)
	}
	if batches := after.Batches - before.Batches; batches > n/10 {
		t.Errorf("%d puts of one name took %d batches; coalescing should need far fewer", n, batches)
	}
}

func testLastCallWins(t *testing.T, s store.Store) {
	s.Put("v", 5, doc("v", 5), nil)
	s.Put("v", 3, doc("v", 3), nil)
	wantRecord(t, s, "v", 3, doc("v", 3))
	syncStore(t, s)
	wantRecord(t, s, "v", 3, doc("v", 3))
}

func testDelete(t *testing.T, s store.Store) {
	s.Put("d", 1, doc("d", 1), nil)
	s.Put("keep", 1, doc("keep", 1), nil)
	syncStore(t, s)
	done, wait := syncDone(t)
	s.Delete("d", done)
	wantMissing(t, s, "d")
	if err := wait(); err != nil {
		t.Fatalf("delete done: %v", err)
	}
	wantMissing(t, s, "d")
	wantRecord(t, s, "keep", 1, doc("keep", 1))

	done, wait = syncDone(t)
	s.Delete("never-written", done)
	if err := wait(); err != nil {
		t.Fatalf("delete of a missing name: %v", err)
	}
	wantMissing(t, s, "never-written")

	s.Put("d", 2, doc("d", 2), nil)
	syncStore(t, s)
	wantRecord(t, s, "d", 2, doc("d", 2))
}

func testDeleteThenPut(t *testing.T, s store.Store) {
	s.Put("x", 1, doc("x", 1), nil)
	s.Put("y", 1, doc("y", 1), nil)
	syncStore(t, s)
	s.Delete("x", nil)
	s.Put("x", 2, doc("x", 2), nil)
	s.Put("y", 2, doc("y", 2), nil)
	s.Delete("y", nil)
	wantRecord(t, s, "x", 2, doc("x", 2))
	wantMissing(t, s, "y")
	syncStore(t, s)
	wantRecord(t, s, "x", 2, doc("x", 2))
	wantMissing(t, s, "y")
}

type kv struct {
	name    string
	version int64
	data    string
}

func scanAll(t testing.TB, s store.Store, prefix string) []kv {
	t.Helper()
	var got []kv
	err := s.Scan(prefix, func(name string, r store.Record) bool {
		got = append(got, kv{name, r.Version, string(r.Data)})
		return true
	})
	if err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	return got
}

func expectScan(t testing.TB, s store.Store, model map[string]int64, prefix string) {
	t.Helper()
	var want []kv
	for name, v := range model {
		if strings.HasPrefix(name, prefix) {
			want = append(want, kv{name, v, string(doc(name, v))})
		}
	}
	slices.SortFunc(want, func(a, b kv) int { return strings.Compare(a.name, b.name) })
	got := scanAll(t, s, prefix)
	if !slices.Equal(got, want) {
		t.Fatalf("Scan(%q):\n got %v\nwant %v", prefix, got, want)
	}
}

func testScan(t *testing.T, s store.Store) {
	model := map[string]int64{}
	put := func(name string, v int64) {
		s.Put(name, v, doc(name, v), nil)
		model[name] = v
	}
	del := func(name string) {
		s.Delete(name, nil)
		delete(model, name)
	}
	for i, name := range []string{"user/1", "user/10", "user/2", "user/", "users", "use", "room/a", "room/b/c", "u", "user/\xff", "user/\x00", "zz"} {
		put(name, int64(i+1))
	}
	prefixes := []string{"", "user/", "user", "room/", "nothing", "user/\xff", "zz", "\xff"}
	check := func() {
		t.Helper()
		for _, p := range prefixes {
			expectScan(t, s, model, p)
		}
	}
	check() // everything queued
	syncStore(t, s)
	check() // everything stored
	// Mix stored, updated, deleted, re-created and new names.
	put("user/2", 20)
	del("user/10")
	del("room/a")
	put("room/a", 30)
	put("user/3", 31)
	del("users")
	put("user/0", 32)
	check()
	syncStore(t, s)
	check()
	del("user/3")
	check()
}

func testScanStop(t *testing.T, s store.Store) {
	for i := range 10 {
		name := fmt.Sprintf("s/%02d", i)
		s.Put(name, 1, doc(name, 1), nil)
		if i == 4 {
			syncStore(t, s)
		}
	}
	for _, stop := range []int{1, 3, 5, 7} {
		var got []string
		err := s.Scan("s/", func(name string, _ store.Record) bool {
			got = append(got, name)
			return len(got) < stop
		})
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if len(got) != stop {
			t.Fatalf("Scan stopping after %d records called fn %d times: %v", stop, len(got), got)
		}
		for i, name := range got {
			if want := fmt.Sprintf("s/%02d", i); name != want {
				t.Fatalf("Scan record %d = %q, want %q", i, name, want)
			}
		}
	}
}

func testSync(t *testing.T, s store.Store) {
	syncStore(t, s) // nothing queued
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Put("a", 1, doc("a", 1), nil)
	if err := s.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled context = %v, want context.Canceled", err)
	}
	for round := range 5 {
		k := newTracker(t, 100)
		for i := range 100 {
			name := fmt.Sprintf("sync/%d", i%17)
			s.Put(name, int64(round*100+i), doc(name, int64(round*100+i)), k.done())
		}
		syncStore(t, s)
		k.requireAll() // Sync returns only after the dones of earlier writes ran
		if st := s.Stats(); st.QueuedWrites != 0 || st.QueuedBytes != 0 {
			t.Fatalf("after Sync: %d writes, %d bytes still queued", st.QueuedWrites, st.QueuedBytes)
		}
	}
}

func testDoneExactlyOnce(t *testing.T, s store.Store) {
	const n = 3000
	k := newTracker(t, n)
	for i := range n {
		name := fmt.Sprintf("once/%d", i%37)
		if i%5 == 0 {
			s.Delete(name, k.done())
		} else {
			s.Put(name, int64(i), doc(name, int64(i)), k.done())
		}
		if i%500 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	syncStore(t, s)
	k.requireAll()
	time.Sleep(20 * time.Millisecond) // a late second call would show here
	k.requireAll()
}

func testConcurrent(t *testing.T, s store.Store) {
	const (
		writers = 16
		ops     = 300
		own     = 7
	)
	k := newTracker(t, writers*ops)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if r == 0 {
					name := fmt.Sprintf("w%d/%d", i%writers, i%own)
					if rec, err := s.Get(name); err == nil {
						if !bytes.Equal(rec.Data, doc(name, rec.Version)) {
							t.Errorf("Get(%q) = version %d with data %q", name, rec.Version, rec.Data)
							return
						}
					} else if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("Get(%q): %v", name, err)
						return
					}
				} else {
					prev := ""
					err := s.Scan("w", func(name string, rec store.Record) bool {
						if name <= prev {
							t.Errorf("Scan order: %q after %q", name, prev)
						}
						prev = name
						if !bytes.Equal(rec.Data, doc(name, rec.Version)) {
							t.Errorf("Scan %q = version %d with data %q", name, rec.Version, rec.Data)
						}
						return true
					})
					if err != nil {
						t.Errorf("Scan: %v", err)
						return
					}
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				v := int64(i + 1)
				switch {
				case i%10 == 9:
					s.Put("shared", int64(g*ops+i), doc("shared", int64(g*ops+i)), k.done())
				case i%13 == 12:
					s.Delete(fmt.Sprintf("w%d/%d", g, i%own), k.done())
				default:
					name := fmt.Sprintf("w%d/%d", g, i%own)
					s.Put(name, v, doc(name, v), k.done())
				}
			}
		}()
	}
	wg.Wait()
	syncStore(t, s)
	close(stop)
	readers.Wait()
	k.requireAll()
	// Each writer's own names hold its last call for them.
	model := map[string]int64{}
	for g := range writers {
		for i := range ops {
			name := fmt.Sprintf("w%d/%d", g, i%own)
			switch {
			case i%10 == 9:
			case i%13 == 12:
				delete(model, name)
			default:
				model[name] = int64(i + 1)
			}
		}
	}
	expectScan(t, s, model, "w")
	r, err := s.Get("shared")
	if err != nil {
		t.Fatalf("Get(shared): %v", err)
	}
	if g := r.Version / ops; r.Version%ops != ops-1 || g >= writers || !bytes.Equal(r.Data, doc("shared", r.Version)) {
		t.Fatalf("Get(shared) = version %d, data %q: not the last write of any writer", r.Version, r.Data)
	}
	if st := s.Stats(); st.SyncedWrites != writers*ops {
		t.Fatalf("SyncedWrites = %d, want %d", st.SyncedWrites, writers*ops)
	}
}

// bigJSON returns a JSON document of n bytes; noisy ones do not compress.
func bigJSON(n int, noisy bool, seed uint64) []byte {
	if !noisy {
		b := SampleJSON(n, seed)
		return b
	}
	b := make([]byte, 0, n)
	b = append(b, `{"blob":"`...)
	x := seed*0x9e3779b97f4a7c15 + 1
	for len(b) < n-2 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"[x&63])
	}
	return append(b, `"}`...)
}

func testLargeValues(t *testing.T, s store.Store) {
	values := map[string][]byte{
		"big/text-1m":  bigJSON(1<<20, false, 1),
		"big/noise-1m": bigJSON(1<<20, true, 2),
		"big/text-9m":  bigJSON(9<<20, false, 3), // more than the default MaxBatchBytes
		"big/noise-5m": bigJSON(5<<20, true, 4),
	}
	k := newTracker(t, len(values))
	for name, data := range values {
		s.Put(name, int64(len(data)), data, k.done())
		wantRecord(t, s, name, int64(len(data)), data)
	}
	syncStore(t, s)
	k.requireAll()
	for name, data := range values {
		wantRecord(t, s, name, int64(len(data)), data)
	}
	n := 0
	err := s.Scan("big/", func(name string, r store.Record) bool {
		n++
		if !bytes.Equal(r.Data, values[name]) {
			t.Errorf("Scan %q: %d bytes differ from the %d written", name, len(r.Data), len(values[name]))
		}
		return true
	})
	if err != nil || n != len(values) {
		t.Fatalf("Scan(big/) saw %d records, err %v; want %d", n, err, len(values))
	}
}

// OddNames returns names the stores must keep apart and return unchanged:
// slashes, spaces, control bytes, NUL, 0xff, invalid UTF-8, non-ASCII, key
// layout look-alikes and one of MaxNameLen bytes.
func OddNames() []string {
	return []string{
		"/", "//", "a/b", "a/b/", "/a", "a//b", "r/", "m/format", "with space", "tab\there", "new\nline",
		"名前/データ", "emoji-🙂", "\x00", "\x00\x00", "a\x00b", "\xff", "\xff\xff\xfe", "invalid-\xc3\x28",
		"%2F", "..", "../etc", "x", strings.Repeat("n", store.MaxNameLen),
	}
}

func testNames(t *testing.T, s store.Store) {
	names := OddNames()
	for i, name := range names {
		s.Put(name, int64(i+1), doc(name, int64(i+1)), nil)
	}
	model := map[string]int64{}
	for i, name := range names {
		model[name] = int64(i + 1)
	}
	check := func() {
		t.Helper()
		for i, name := range names {
			wantRecord(t, s, name, int64(i+1), doc(name, int64(i+1)))
		}
		expectScan(t, s, model, "")
		expectScan(t, s, model, "a/")
		expectScan(t, s, model, "\x00")
		expectScan(t, s, model, "\xff")
	}
	check()
	syncStore(t, s)
	check()
	wantMissing(t, s, "a")
	wantMissing(t, s, "\x00\x00\x00")
	wantMissing(t, s, strings.Repeat("n", store.MaxNameLen-1))
}

func testInvalid(t *testing.T, s store.Store) {
	long := strings.Repeat("n", store.MaxNameLen+1)
	for _, name := range []string{"", long} {
		if _, err := s.Get(name); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Get(%.10q) = %v, want ErrInvalid", name, err)
		}
		var got error
		calls := 0
		s.Put(name, 1, doc("x", 1), func(err error) { calls++; got = err })
		if calls != 1 || !errors.Is(got, store.ErrInvalid) {
			t.Errorf("Put(%.10q): done ran %d times with %v before returning; want once with ErrInvalid", name, calls, got)
		}
		calls = 0
		s.Delete(name, func(err error) { calls++; got = err })
		if calls != 1 || !errors.Is(got, store.ErrInvalid) {
			t.Errorf("Delete(%.10q): done ran %d times with %v; want once with ErrInvalid", name, calls, got)
		}
		s.Put(name, 1, nil, nil) // a nil done must not panic
	}
	var got error
	s.Put("neg", -1, doc("neg", -1), func(err error) { got = err })
	if !errors.Is(got, store.ErrInvalid) {
		t.Errorf("Put with version -1: done got %v, want ErrInvalid", got)
	}
	syncStore(t, s)
	wantMissing(t, s, "neg")
	if n := len(scanAll(t, s, "")); n != 0 {
		t.Errorf("refused writes left %d records", n)
	}
}

func testStats(t *testing.T, s store.Store) {
	if st := s.Stats(); st != (store.Stats{}) {
		t.Fatalf("Stats of a new store = %+v, want zero", st)
	}
	for i := range 10 {
		name := fmt.Sprintf("st/%d", i)
		s.Put(name, 1, doc(name, 1), nil)
	}
	if st := s.Stats(); st.QueuedWrites == 0 && st.Batches == 0 {
		t.Errorf("Stats right after 10 puts shows neither queued writes nor a batch: %+v", st)
	}
	syncStore(t, s)
	st := s.Stats()
	if st.QueuedWrites != 0 || st.QueuedBytes != 0 || st.SyncedWrites != 10 || st.Batches == 0 ||
		st.LastBatchWrites == 0 || st.LastBatchBytes <= 0 || st.FailedBatches != 0 || st.FailedWrites != 0 {
		t.Fatalf("Stats after Sync = %+v", st)
	}
}

func testClose(t *testing.T, s store.Store) {
	const n = 500
	k := newTracker(t, n)
	for i := range n {
		name := fmt.Sprintf("c/%d", i%50)
		s.Put(name, int64(i), doc(name, int64(i)), k.done())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	k.requireAll() // Close flushed and acknowledged every queued write
	if st := s.Stats(); st.SyncedWrites != n || st.QueuedWrites != 0 {
		t.Fatalf("Stats after Close = %+v, want %d synced writes and none queued", st, n)
	}
	if _, err := s.Get("c/1"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	var got error
	s.Put("c/1", 1000, doc("c/1", 1000), func(err error) { got = err })
	if !errors.Is(got, store.ErrClosed) {
		t.Errorf("Put after Close: done got %v, want ErrClosed", got)
	}
	got = nil
	s.Delete("c/1", func(err error) { got = err })
	if !errors.Is(got, store.ErrClosed) {
		t.Errorf("Delete after Close: done got %v, want ErrClosed", got)
	}
	if err := s.Sync(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}
	if err := s.Scan("", func(string, store.Record) bool { return true }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Scan after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}
