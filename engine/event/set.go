package event

import "sync/atomic"

// set is one name's subscribers: subscribe and unsubscribe in O(1)
// amortised at any size, publish without a lock or an allocation.
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
type set struct {
	arr atomic.Pointer[slots]

	// Written under the shard's write lock only.
	index map[Subscriber]int // slot of each subscriber; nil while small
	free  []int              // emptied slots below the mark
	live  int
}

type slots struct {
	v []atomic.Pointer[slot]
	n atomic.Int64 // high-water mark: slots at or above it were never filled
}

type slot struct{ s Subscriber }

// smallSet is the size below which a set finds subscribers by scanning
// its slots instead of keeping an index.
const smallSet = 8

func newSet(s Subscriber) *set {
	st := &set{}
	a := &slots{v: make([]atomic.Pointer[slot], 2)}
	st.arr.Store(a)
	st.add(s)
	return st
}

// find returns s's slot, or -1.
func (st *set) find(s Subscriber) int {
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

// add adds s, reporting false when it was there already.
func (st *set) add(s Subscriber) bool {
	if st.find(s) >= 0 {
		return false
	}
	a := st.arr.Load()
	var i int
	if k := len(st.free); k > 0 {
		i = st.free[k-1]
		st.free = st.free[:k-1]
		a.v[i].Store(&slot{s: s})
	} else {
		n := int(a.n.Load())
		if n == len(a.v) {
			a = st.grow(a, 2*len(a.v))
		}
		i = n
		a.v[i].Store(&slot{s: s})
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

// remove removes s, reporting false when it was not there.
func (st *set) remove(s Subscriber) bool {
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
func (st *set) grow(a *slots, size int) *slots {
	n := int(a.n.Load())
	b := &slots{v: make([]atomic.Pointer[slot], size)}
	for i := 0; i < n; i++ {
		b.v[i].Store(a.v[i].Load())
	}
	b.n.Store(int64(n))
	st.arr.Store(b)
	return b
}

// compact moves the live subscribers into a fresh array with room to
// grow, dropping the emptied slots.
func (st *set) compact(a *slots) {
	b := &slots{v: make([]atomic.Pointer[slot], max(2*st.live, 2))}
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

func (st *set) reindex(a *slots) {
	st.index = make(map[Subscriber]int, st.live)
	for i, n := 0, int(a.n.Load()); i < n; i++ {
		if e := a.v[i].Load(); e != nil {
			st.index[e.s] = i
		}
	}
}

// publish delivers payload to every subscriber but except.
func (st *set) publish(payload []byte, except Subscriber) int {
	a := st.arr.Load()
	n := int(a.n.Load())
	d := 0
	for i := 0; i < n; i++ {
		e := a.v[i].Load()
		if e == nil || e.s == except {
			continue
		}
		e.s.Deliver(payload)
		d++
	}
	return d
}
