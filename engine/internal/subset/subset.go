// Package subset is a set of subscribers of one name with O(1) amortised
// add and remove at any size, iterated without a lock or an allocation.
package subset

import "sync/atomic"

// Set is one name's subscribers: add and remove in O(1) amortised at any
// size, Each without a lock or an allocation.
//
// Subscribers live in slots of an array that publishers read through
// atomic loads: a publisher loads the array, then its high-water mark,
// and delivers to every non-empty slot below it. Writers (holding the
// shard's write lock) fill a free slot or the next one past the mark
// (storing the slot before raising the mark), and empty a slot to
// unsubscribe, remembering it for reuse. An array that is full is copied
// into one twice as large; one mostly empty is compacted into a fresh
// one; either way publishers already reading the old array finish on it
// unchanged. A publish concurrent with a subscribe or unsubscribe may or
// may not reach that subscriber, never twice, and reaches every other.
type Set[T comparable] struct {
	arr atomic.Pointer[slots[T]]

	// Written under the shard's write lock only.
	index map[T]int // slot of each subscriber; nil while small
	free  []int     // emptied slots below the mark
	live  int
}

type slots[T comparable] struct {
	v []atomic.Pointer[slot[T]]
	n atomic.Int64 // high-water mark: slots at or above it were never filled
}

type slot[T comparable] struct{ s T }

// smallSet is the size below which a set finds subscribers by scanning
// its slots instead of keeping an index.
const smallSet = 8

// New returns a set holding s.
func New[T comparable](s T) *Set[T] {
	st := Empty[T]()
	st.Add(s)
	return st
}

// Empty returns an empty set.
func Empty[T comparable]() *Set[T] {
	st := &Set[T]{}
	st.arr.Store(&slots[T]{v: make([]atomic.Pointer[slot[T]], 2)})
	return st
}

// Len returns the number of members. Call it where Add and Remove are
// excluded (under the owner's lock).
func (st *Set[T]) Len() int { return st.live }

// find returns s's slot, or -1.
func (st *Set[T]) find(s T) int {
	if st.index != nil {
		if i, ok := st.index[s]; ok {
			return i
		}
		return -1
	}
	a := st.arr.Load()
	for i, n := 0, int(a.n.Load()); i < n; i++ {
		if e := a.v[i].Load(); e != nil && e.s == s {
			return i
		}
	}
	return -1
}

// Add adds s, reporting false when it was there already. Add and Remove
// must be serialised by the caller; Each may run concurrently with them.
func (st *Set[T]) Add(s T) bool {
	if st.find(s) >= 0 {
		return false
	}
	a := st.arr.Load()
	var i int
	if k := len(st.free); k > 0 {
		i = st.free[k-1]
		st.free = st.free[:k-1]
		a.v[i].Store(&slot[T]{s: s})
	} else {
		n := int(a.n.Load())
		if n == len(a.v) {
			a = st.grow(a, 2*len(a.v))
		}
		i = n
		a.v[i].Store(&slot[T]{s: s})
		a.n.Store(int64(n + 1))
	}
	st.live++
	if st.index != nil {
		st.index[s] = i
	} else if st.live > smallSet {
		st.reindex(a)
	}
	return true
}

// Remove removes s, reporting false when it was not there.
func (st *Set[T]) Remove(s T) bool {
	i := st.find(s)
	if i < 0 {
		return false
	}
	a := st.arr.Load()
	a.v[i].Store(nil)
	if st.index != nil {
		delete(st.index, s)
	}
	st.free = append(st.free, i)
	st.live--
	if n := int(a.n.Load()); n > smallSet && st.live < n/4 {
		st.compact(a)
	}
	return true
}

// grow copies a into a new array of size slots and installs it.
func (st *Set[T]) grow(a *slots[T], size int) *slots[T] {
	n := int(a.n.Load())
	b := &slots[T]{v: make([]atomic.Pointer[slot[T]], size)}
	for i := 0; i < n; i++ {
		b.v[i].Store(a.v[i].Load())
	}
	b.n.Store(int64(n))
	st.arr.Store(b)
	return b
}

// compact moves the live subscribers into a fresh array with room to
// grow, dropping the emptied slots.
func (st *Set[T]) compact(a *slots[T]) {
	b := &slots[T]{v: make([]atomic.Pointer[slot[T]], max(2*st.live, 2))}
	k := 0
	for i, n := 0, int(a.n.Load()); i < n; i++ {
		if e := a.v[i].Load(); e != nil {
			b.v[k].Store(e)
			k++
		}
	}
	b.n.Store(int64(k))
	st.free = st.free[:0]
	st.arr.Store(b)
	if st.index != nil {
		if st.live > smallSet {
			st.reindex(b)
		} else {
			st.index = nil
		}
	}
}

func (st *Set[T]) reindex(a *slots[T]) {
	st.index = make(map[T]int, st.live)
	for i, n := 0, int(a.n.Load()); i < n; i++ {
		if e := a.v[i].Load(); e != nil {
			st.index[e.s] = i
		}
	}
}

// Each calls fn for every member until fn returns false. It takes no
// lock: a member added or removed meanwhile may or may not be seen, never
// twice, and every other member is seen once.
func (st *Set[T]) Each(fn func(s T) bool) {
	a := st.arr.Load()
	n := int(a.n.Load())
	for i := 0; i < n; i++ {
		if e := a.v[i].Load(); e != nil && !fn(e.s) {
			return
		}
	}
}

// View is a moment's reading of a set, for loops on hot paths: At(i) for
// i below Len returns each member once (ok false for an emptied slot).
type View[T comparable] struct {
	a *slots[T]
	n int
}

// View reads the set without a lock, with Each's guarantees.
func (st *Set[T]) View() View[T] {
	a := st.arr.Load()
	return View[T]{a: a, n: int(a.n.Load())}
}

// Len returns the number of slots to visit.
func (v View[T]) Len() int { return v.n }

// At returns slot i's member.
func (v View[T]) At(i int) (s T, ok bool) {
	if e := v.a.v[i].Load(); e != nil {
		return e.s, true
	}
	return s, false
}
