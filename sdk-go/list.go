package eddy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// List is a record holding a JSON array of record names (Records.GetList).
// Its writes replace the whole array as one record write, so they follow
// the record's version and merge rules. A record that does not hold an
// array reads as an empty list; elements that are not strings are skipped.
//
// Concurrent changes: each method remembers the operation, not only the
// array it produced. Under RemoteWins (the default), an operation the
// server refused because another client wrote the list first, and one made
// while disconnected, is applied again to the server's list: two clients
// adding entries at the same time both keep their additions. Under
// LocalWins or a merge function the array this client had is what gets
// merged, as for any record. An operation still unanswered when the
// connection dropped may or may not have landed: it is applied again too,
// except an addition whose entry the server's list already holds.
//
// Callbacks run on the client's callback goroutine, once per change of the
// list, in version order: first OnEntryRemoved (old indexes, ascending),
// then OnEntryAdded (new indexes, ascending), then OnEntryMoved (new
// indexes, ascending), then Subscribe. The n-th occurrence of a name
// before a change is matched with its n-th occurrence after it. An entry
// counts as moved when its order relative to the other kept entries
// changed (the fewest such entries); one that only shifted because others
// were added or removed before it is not reported.
//
// Every method is safe from any goroutine.
type List struct {
	rec   *Record
	unsub func()

	mu   sync.Mutex
	subs []*listSub // copy-on-write

	// Owned by the callback goroutine.
	prev   []string
	primed bool
}

type listSubKind uint8

const (
	listChanged listSubKind = iota
	listAdded
	listRemoved
	listMoved
)

type listSub struct {
	kind    listSubKind
	entries func([]string)
	entry   func(string, int)
	active  atomic.Bool
}

// GetList returns a handle to the list called name (see Get).
func (rs *Records) GetList(ctx context.Context, name string) (*List, error) {
	rec, err := rs.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	l := &List{rec: rec}
	l.unsub = rec.SubscribeNow("", l.changed)
	return l, nil
}

// Name returns the list's record name.
func (l *List) Name() string { return l.rec.Name() }

// Version returns the record's local version.
func (l *List) Version() int64 { return l.rec.Version() }

// Entries returns the local copy of the list.
func (l *List) Entries() []string { return parseEntries(l.rec.Get("")) }

// IsEmpty reports whether the list has no entries.
func (l *List) IsEmpty() bool { return len(l.Entries()) == 0 }

func parseEntries(doc []byte) []string {
	var raw []json.RawMessage
	if json.Unmarshal(doc, &raw) != nil {
		return []string{}
	}
	out := make([]string, 0, len(raw))
	for _, e := range raw {
		var s string
		if json.Unmarshal(e, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

func (l *List) checkEntries(entries ...string) error {
	for _, e := range entries {
		if err := checkRecordName("write", e); err != nil {
			return wrapErr(fmt.Sprintf("list %q: entry %q", l.Name(), e), err)
		}
	}
	return nil
}

// SetEntries replaces the whole list.
func (l *List) SetEntries(ctx context.Context, entries []string) error {
	if err := l.checkEntries(entries...); err != nil {
		return err
	}
	if entries == nil {
		entries = []string{}
	}
	return l.rec.Set(ctx, entries)
}

// AddEntry appends entry.
func (l *List) AddEntry(ctx context.Context, entry string) error {
	return l.AddEntryAt(ctx, entry, -1)
}

// AddEntryAt inserts entry before index (0 <= index <= length); -1
// appends.
func (l *List) AddEntryAt(ctx context.Context, entry string, index int) error {
	if err := l.checkEntries(entry); err != nil {
		return err
	}
	// fn may run again on another list (see List): index stays as given.
	return l.modify(ctx, func(cur []string, uncertain bool) ([]string, error) {
		if uncertain && slices.Contains(cur, entry) {
			return cur, nil // it probably landed before the connection dropped
		}
		at := index
		if at == -1 {
			at = len(cur)
		}
		if at < 0 || at > len(cur) {
			return nil, l.indexErr(at, len(cur))
		}
		return slices.Insert(cur, at, entry), nil
	})
}

// RemoveEntry removes every occurrence of entry.
func (l *List) RemoveEntry(ctx context.Context, entry string) error {
	return l.modify(ctx, func(cur []string, uncertain bool) ([]string, error) {
		return slices.DeleteFunc(cur, func(e string) bool { return e == entry }), nil
	})
}

// RemoveEntryAt removes the entry at index. Applied again to a list that
// changed meanwhile (see List), it removes the occurrence of the same
// entry nearest to index, or nothing if the entry is gone.
func (l *List) RemoveEntryAt(ctx context.Context, index int) error {
	var entry string
	again := false
	return l.modify(ctx, func(cur []string, uncertain bool) ([]string, error) {
		i := index
		if again {
			if i = nearest(cur, entry, index); i < 0 {
				return cur, nil
			}
		} else if i < 0 || i >= len(cur) {
			return nil, l.indexErr(i, len(cur))
		}
		entry, again = cur[i], true
		return slices.Delete(cur, i, i+1), nil
	})
}

// Move moves the entry at index from so that it ends up at index to.
// Applied again to a list that changed meanwhile (see List), it moves the
// occurrence of the same entry nearest to from, to index to or the end,
// or nothing if the entry is gone.
func (l *List) Move(ctx context.Context, from, to int) error {
	var entry string
	again := false
	return l.modify(ctx, func(cur []string, uncertain bool) ([]string, error) {
		i, j := from, to
		if again {
			if i = nearest(cur, entry, from); i < 0 {
				return cur, nil
			}
			j = min(j, len(cur)-1)
		} else {
			if i < 0 || i >= len(cur) {
				return nil, l.indexErr(i, len(cur))
			}
			if j < 0 || j >= len(cur) {
				return nil, l.indexErr(j, len(cur))
			}
		}
		entry, again = cur[i], true
		cur = slices.Delete(cur, i, i+1)
		return slices.Insert(cur, j, entry), nil
	})
}

// nearest returns the index of the occurrence of entry in list closest to
// i (the lower one on a tie), or -1.
func nearest(list []string, entry string, i int) int {
	best := -1
	for k, e := range list {
		if e != entry {
			continue
		}
		if best < 0 || abs(k-i) < abs(best-i) {
			best = k
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func (l *List) indexErr(i, n int) error {
	return fmt.Errorf("eddy: list %q: index %d out of range [0, %d)", l.Name(), i, n)
}

// modify computes the new list from the local one and writes it, under the
// record's lock so concurrent modifications of this client compose.
func (l *List) modify(ctx context.Context, fn func(cur []string, uncertain bool) ([]string, error)) error {
	return l.rec.update(ctx, func(doc []byte, uncertain bool) (any, error) {
		next, err := fn(parseEntries(doc), uncertain)
		if err != nil {
			return nil, err
		}
		if next == nil {
			next = []string{}
		}
		return next, nil
	})
}

// Subscribe calls fn with the entries after every change.
func (l *List) Subscribe(fn func(entries []string)) (unsubscribe func()) {
	return l.add(&listSub{kind: listChanged, entries: fn})
}

// OnEntryAdded calls fn for every entry added, with its new index.
func (l *List) OnEntryAdded(fn func(entry string, index int)) (unsubscribe func()) {
	return l.add(&listSub{kind: listAdded, entry: fn})
}

// OnEntryRemoved calls fn for every entry removed, with its old index.
func (l *List) OnEntryRemoved(fn func(entry string, index int)) (unsubscribe func()) {
	return l.add(&listSub{kind: listRemoved, entry: fn})
}

// OnEntryMoved calls fn for every entry moved, with its new index.
func (l *List) OnEntryMoved(fn func(entry string, index int)) (unsubscribe func()) {
	return l.add(&listSub{kind: listMoved, entry: fn})
}

func (l *List) add(s *listSub) func() {
	if s.entries == nil && s.entry == nil {
		return func() {}
	}
	s.active.Store(true)
	l.mu.Lock()
	l.subs = append(slices.Clip(l.subs), s)
	l.mu.Unlock()
	return func() {
		s.active.Store(false)
		l.mu.Lock()
		defer l.mu.Unlock()
		if i := slices.Index(l.subs, s); i >= 0 {
			l.subs = slices.Delete(slices.Clone(l.subs), i, i+1)
		}
	}
}

// OnDelete registers fn to run when the list's record is deleted.
func (l *List) OnDelete(fn func()) { l.rec.OnDelete(fn) }

// Discard releases the handle (see Record.Discard).
func (l *List) Discard() {
	l.unsub()
	l.rec.Discard()
}

// Delete deletes the list's record (see Record.Delete).
func (l *List) Delete(ctx context.Context) error { return l.rec.Delete(ctx) }

// changed runs on the callback goroutine for every change of the record.
func (l *List) changed(doc json.RawMessage) {
	next := parseEntries(doc)
	if !l.primed {
		l.prev, l.primed = next, true
		return
	}
	removed, added, moved := diffEntries(l.prev, next)
	l.prev = next
	l.mu.Lock()
	subs := l.subs
	l.mu.Unlock()
	for _, group := range []struct {
		kind listSubKind
		at   []entryAt
	}{{listRemoved, removed}, {listAdded, added}, {listMoved, moved}} {
		for _, e := range group.at {
			for _, s := range subs {
				if s.kind == group.kind && s.active.Load() {
					s.entry(e.entry, e.index)
				}
			}
		}
	}
	for _, s := range subs {
		if s.kind == listChanged && s.active.Load() {
			s.entries(slices.Clone(next))
		}
	}
}

type entryAt struct {
	entry string
	index int
}

// diffEntries compares two lists (see List for the rules).
func diffEntries(old, new []string) (removed, added, moved []entryAt) {
	occ := make(map[string][]int, len(old))
	for i, e := range old {
		occ[e] = append(occ[e], i)
	}
	used := make(map[string]int, len(old))
	type pair struct{ from, to int }
	var kept []pair
	for j, e := range new {
		if k := used[e]; k < len(occ[e]) {
			kept = append(kept, pair{occ[e][k], j})
			used[e] = k + 1
		} else {
			added = append(added, entryAt{e, j})
		}
	}
	for e, pos := range occ {
		for _, i := range pos[used[e]:] {
			removed = append(removed, entryAt{e, i})
		}
	}
	sort.Slice(removed, func(a, b int) bool { return removed[a].index < removed[b].index })
	// Kept entries in old order; those outside a longest increasing run of
	// new indexes moved.
	sort.Slice(kept, func(a, b int) bool { return kept[a].from < kept[b].from })
	inRun := longestIncreasing(len(kept), func(i int) int { return kept[i].to })
	for i, p := range kept {
		if !inRun[i] {
			moved = append(moved, entryAt{new[p.to], p.to})
		}
	}
	sort.Slice(moved, func(a, b int) bool { return moved[a].index < moved[b].index })
	return removed, added, moved
}

// longestIncreasing marks one longest strictly increasing subsequence of
// key(0..n-1), in O(n log n).
func longestIncreasing(n int, key func(int) int) []bool {
	tails := make([]int, 0, n) // tails[k]: index ending the best run of length k+1
	prev := make([]int, n)
	for i := 0; i < n; i++ {
		k := sort.Search(len(tails), func(j int) bool { return key(tails[j]) >= key(i) })
		if k > 0 {
			prev[i] = tails[k-1]
		} else {
			prev[i] = -1
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	in := make([]bool, n)
	if len(tails) > 0 {
		for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
			in[i] = true
		}
	}
	return in
}
