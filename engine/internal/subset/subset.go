// Package subset is a set of subscribers of one name with O(1) amortised
// add and remove at any size, read without a lock or an allocation.
package subset

import "sync/atomic"

// Set is one name's subscribers.
//
// A small set (at most smallMax members) is an immutable slice replaced
// whole on every change: copying a few dozen words is cheaper than any
// index, and readers walk a plain slice. A larger set keeps its members
// in slots of an array read through atomic loads: a reader loads the
// array, then its high-water mark, and visits every non-empty slot below
// it. Writers fill a free slot or the next one past the mark (storing the
// slot before raising the mark), and empty a slot to remove, remembering
// it for reuse; an index finds a member's slot. An array that is full is
// copied into one twice as large and one mostly empty is compacted into a
// fresh one (or back into a small slice), so readers already on the old
// one finish on it unchanged. A read concurrent with an add or remove may
// or may not see that member, never twice, and sees every other once.
//
// Concurrency: Add, Remove and Len are serialised by the caller (the
// owner's lock); View may run at any time, from any goroutine.
type Set[T comparable] struct {
	small atomic.Pointer[[]T]      // the members while small; nil once large
	arr   atomic.Pointer[slots[T]] // the members while large; stale but valid once small again

	// Written under the owner's lock only.
	index map[T]int // slot of each member while large
	free  []int     // emptied slots below the mark
	live  int
}

type slots[T comparable] struct {
	v []atomic.Pointer[slot[T]]
	n atomic.Int64 // high-water mark: slots at or above it were never filled
}

type slot[T comparable] struct{ s T }

// smallMax is the largest set kept as a copy-on-write slice; a large set
// shrinking to smallMin goes back to one.
const (
	smallMax = 32
	smallMin = 8
)

// New returns a set holding s.
func New[T comparable](s T) *Set[T] {
	st := Empty[T]()
	st.Add(s)
	return st
}

// Empty returns an empty set.
func Empty[T comparable]() *Set[T] {
	st := &Set[T]{}
	st.small.Store(&[]T{})
	return st
}

// Len returns the number of members (under the owner's lock).
func (st *Set[T]) Len() int { return st.live }

// Add adds s, reporting false when it was there already.
func (st *Set[T]) Add(s T) bool {
	if sp := st.small.Load(); sp != nil {
		list := *sp
		for _, x := range list {
			if x == s {
				return false
			}
		}
		if len(list) < smallMax {
			next := make([]T, len(list)+1)
			copy(next, list)
			next[len(list)] = s
			st.small.Store(&next)
			st.live++
			return true
		}
		st.toLarge(list)
	}
	if _, dup := st.index[s]; dup {
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
	st.index[s] = i
	st.live++
	return true
}

// Remove removes s, reporting false when it was not there.
func (st *Set[T]) Remove(s T) bool {
	if sp := st.small.Load(); sp != nil {
		list := *sp
		for i, x := range list {
			if x == s {
				next := make([]T, 0, len(list)-1)
				next = append(next, list[:i]...)
				next = append(next, list[i+1:]...)
				st.small.Store(&next)
				st.live--
				return true
			}
		}
		return false
	}
	i, ok := st.index[s]
	if !ok {
		return false
	}
	a := st.arr.Load()
	a.v[i].Store(nil)
	delete(st.index, s)
	st.free = append(st.free, i)
	st.live--
	switch n := int(a.n.Load()); {
	case st.live <= smallMin:
		st.toSmall(a)
	case st.live < n/4:
		st.compact(a)
	}
	return true
}

// toLarge moves a full small set into slots.
func (st *Set[T]) toLarge(list []T) {
	a := &slots[T]{v: make([]atomic.Pointer[slot[T]], 2*len(list))}
	st.index = make(map[T]int, 2*len(list))
	for i, x := range list {
		a.v[i].Store(&slot[T]{s: x})
		st.index[x] = i
	}
	a.n.Store(int64(len(list)))
	st.free = st.free[:0]
	st.arr.Store(a) // before small goes: a reader finding small nil reads arr
	st.small.Store(nil)
}

// toSmall turns a shrunk large set back into a slice.
func (st *Set[T]) toSmall(a *slots[T]) {
	list := make([]T, 0, st.live)
	for i, n := 0, int(a.n.Load()); i < n; i++ {
		if e := a.v[i].Load(); e != nil {
			list = append(list, e.s)
		}
	}
	st.small.Store(&list)
	st.index, st.free = nil, nil
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

// compact moves the members into a fresh array with room to grow,
// dropping the emptied slots.
func (st *Set[T]) compact(a *slots[T]) {
	b := &slots[T]{v: make([]atomic.Pointer[slot[T]], 2*st.live)}
	k := 0
	for i, n := 0, int(a.n.Load()); i < n; i++ {
		if e := a.v[i].Load(); e != nil {
			b.v[k].Store(e)
			st.index[e.s] = k
			k++
		}
	}
	b.n.Store(int64(k))
	st.free = st.free[:0]
	st.arr.Store(b)
}

// View is a moment's reading of a set: At(i) for i below Len returns each
// member once (ok false for an emptied slot).
type View[T comparable] struct {
	list []T       // small set
	a    *slots[T] // large set
	n    int
}

// View reads the set without a lock.
func (st *Set[T]) View() View[T] {
	if sp := st.small.Load(); sp != nil {
		return View[T]{list: *sp, n: len(*sp)}
	}
	a := st.arr.Load()
	return View[T]{a: a, n: int(a.n.Load())}
}

// Len returns the number of positions to visit.
func (v View[T]) Len() int { return v.n }

// At returns position i's member.
func (v View[T]) At(i int) (s T, ok bool) {
	if v.a == nil {
		return v.list[i], true
	}
	if e := v.a.v[i].Load(); e != nil {
		return e.s, true
	}
	return s, false
}

// Small returns the members when the set is small (a slice never
// modified, for the tightest loops), or ok false: use the View.
func (v View[T]) Small() (list []T, ok bool) { return v.list, v.a == nil }
