package jsonpath

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"unsafe"
)

// Equal reports whether a and b hold the same JSON value: objects are equal
// when they have the same keys with equal values, in any order (for a key
// repeated within one object the last member counts, as in JavaScript);
// arrays when they have equal elements in the same order; strings when
// they denote the same characters, however escaped; numbers when they have
// the same value as IEEE 754 doubles, as JavaScript compares them (so 1,
// 1.0 and 1e0 are equal, and so are integers too large for a double that
// round to the same one). Surrounding whitespace is ignored. Equal reports
// false if either input is not valid JSON (or is over 2 GiB).
//
// Byte-identical inputs cost one Valid. Otherwise both inputs are indexed
// into pooled scratch space, so a warm Equal allocates nothing; the work is
// O(n log n) in the size of the inputs, whatever their shape.
func Equal(a, b []byte) bool {
	if string(a) == string(b) {
		return Valid(a) == nil
	}
	st := equalPool.Get().(*equalState)
	defer st.release()
	if !st.a.build(a) || !st.b.build(b) {
		return false
	}
	return st.equal(0, 0)
}

// node is one value of an indexed document. Containers are followed by
// their contents: an object by key, value, key, value..., an array by its
// elements; next is the index of the first node after the whole subtree.
type node struct {
	start int32 // string: first content byte; number: first byte
	end   int32 // string: closing quote; number: end
	next  int32
	kind  byte // '{', '[', '"', '0' (number), 't', 'f', 'n'
	esc   bool // string with escapes
}

type tape struct {
	doc   []byte
	nodes []node
}

// member is an object member: the node indexes of its key and value.
type member struct{ key, val int32 }

type equalState struct {
	a, b   tape
	ma, mb []member // stacks of members being compared, one per side
}

var equalPool = sync.Pool{New: func() any { return new(equalState) }}

// maxPooledNodes bounds the scratch kept in the pool, so one huge document
// does not pin its index in memory.
const maxPooledNodes = 1 << 14

func (st *equalState) release() {
	if cap(st.a.nodes) > maxPooledNodes || cap(st.b.nodes) > maxPooledNodes ||
		cap(st.ma) > maxPooledNodes || cap(st.mb) > maxPooledNodes {
		return
	}
	st.a = tape{nodes: st.a.nodes[:0]}
	st.b = tape{nodes: st.b.nodes[:0]}
	st.ma, st.mb = st.ma[:0], st.mb[:0]
	equalPool.Put(st)
}

// build indexes doc, checking it as Valid does; it reports whether doc is
// valid. Like skipValue it is iterative: open containers are kept in a
// fixed array, so stack use does not depend on the input.
func (t *tape) build(doc []byte) bool {
	t.doc = doc
	nodes, ok := buildNodes(t.nodes[:0], doc)
	t.nodes = nodes
	return ok
}

func buildNodes(nodes []node, doc []byte) ([]node, bool) {
	if len(doc) > math.MaxInt32 {
		return nodes, false
	}
	var open [MaxDepth]int32 // node index of each open container
	level := 0
	i := skipSpace(doc, 0)
	for {
		// A value starts at doc[i].
		if i >= len(doc) {
			return nodes, false
		}
		idx := int32(len(nodes))
		switch c := doc[i]; c {
		case '{', '[':
			if level == MaxDepth {
				return nodes, false
			}
			open[level] = idx
			level++
			nodes = append(nodes, node{kind: c})
			i = skipSpace(doc, i+1)
			if i < len(doc) && (c == '{' && doc[i] == '}' || c == '[' && doc[i] == ']') {
				i++
				level--
				nodes[idx].next = idx + 1
				break // to the code after a value
			}
			if c == '{' {
				var ok bool
				if nodes, i, ok = appendKey(nodes, doc, i); !ok {
					return nodes, false
				}
			}
			continue
		case '"':
			end, esc, err := scanString(doc, i)
			if err != nil {
				return nodes, false
			}
			nodes = append(nodes, node{kind: '"', esc: esc, start: int32(i + 1), end: int32(end - 1), next: idx + 1})
			i = end
		case 't', 'f', 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			end, err := scanLiteral(doc, i, lit)
			if err != nil {
				return nodes, false
			}
			nodes = append(nodes, node{kind: c, next: idx + 1})
			i = end
		default:
			if c != '-' && (c < '0' || c > '9') {
				return nodes, false
			}
			end, err := scanNumber(doc, i)
			if err != nil {
				return nodes, false
			}
			nodes = append(nodes, node{kind: '0', start: int32(i), end: int32(end), next: idx + 1})
			i = end
		}
		// After a complete value: close containers or move to the next item.
		for {
			i = skipSpace(doc, i)
			if level == 0 {
				return nodes, i == len(doc)
			}
			if i >= len(doc) {
				return nodes, false
			}
			top := open[level-1]
			inObj := nodes[top].kind == '{'
			if doc[i] == ',' {
				i = skipSpace(doc, i+1)
				if inObj {
					var ok bool
					if nodes, i, ok = appendKey(nodes, doc, i); !ok {
						return nodes, false
					}
				}
				break // the next value starts at doc[i]
			}
			if inObj && doc[i] == '}' || !inObj && doc[i] == ']' {
				i++
				level--
				nodes[top].next = int32(len(nodes))
				continue
			}
			return nodes, false
		}
	}
}

// appendKey indexes the member key at doc[i], checks the colon after it,
// and returns the start of the member's value.
func appendKey(nodes []node, doc []byte, i int) ([]node, int, bool) {
	if i >= len(doc) || doc[i] != '"' {
		return nodes, 0, false
	}
	end, esc, err := scanString(doc, i)
	if err != nil {
		return nodes, 0, false
	}
	idx := int32(len(nodes))
	nodes = append(nodes, node{kind: '"', esc: esc, start: int32(i + 1), end: int32(end - 1), next: idx + 1})
	i = skipSpace(doc, end)
	if i >= len(doc) || doc[i] != ':' {
		return nodes, 0, false
	}
	return nodes, skipSpace(doc, i+1), true
}

func (t *tape) text(n int32) []byte {
	nd := &t.nodes[n]
	return t.doc[nd.start:nd.end]
}

// equal compares node i of a with node j of b.
func (st *equalState) equal(i, j int32) bool {
	na, nb := st.a.nodes[i], st.b.nodes[j]
	if na.kind != nb.kind {
		return false
	}
	switch na.kind {
	case '0':
		return numbersEqual(st.a.text(i), st.b.text(j))
	case '"':
		return compareStrings(st.a.text(i), na.esc, st.b.text(j), nb.esc) == 0
	case '[':
		ci, cj := i+1, j+1
		for ci < na.next && cj < nb.next {
			if !st.equal(ci, cj) {
				return false
			}
			ci, cj = st.a.nodes[ci].next, st.b.nodes[cj].next
		}
		return ci == na.next && cj == nb.next
	case '{':
		return st.equalObjects(i, j)
	}
	return true // true, false, null
}

// equalObjects compares the objects at node i of a and node j of b. When
// both list the same few plain keys in the same order without repeats,
// values are compared pairwise. Otherwise each side's members are sorted by
// key (stably, so the last of a repeated key is the last of its run),
// reduced to the last member per key, and compared in order. Either way
// each value is compared at most once.
func (st *equalState) equalObjects(i, j int32) bool {
	baseA, baseB := len(st.ma), len(st.mb)
	st.ma = st.a.members(st.ma, i)
	st.mb = st.b.members(st.mb, j)
	eq := st.equalMembers(baseA, baseB)
	st.ma, st.mb = st.ma[:baseA], st.mb[:baseB]
	return eq
}

// inOrderMax bounds the objects tried in order: the check for repeated
// keys it needs is quadratic.
const inOrderMax = 8

func (st *equalState) equalMembers(baseA, baseB int) bool {
	ma, mb := st.ma[baseA:], st.mb[baseB:]
	n := len(ma)
	if n == len(mb) && n <= inOrderMax && st.sameOrder(ma, mb) {
		for k := 0; k < n; k++ {
			// st.ma and st.mb may grow (and move) during the recursion.
			if !st.equal(st.ma[baseA+k].val, st.mb[baseB+k].val) {
				return false
			}
		}
		return true
	}
	na := st.a.sortMembers(ma)
	nb := st.b.sortMembers(mb)
	if na != nb {
		return false
	}
	for k := 0; k < na; k++ {
		if st.a.compareKeys(ma[k].key, &st.b, mb[k].key) != 0 {
			return false
		}
	}
	for k := 0; k < na; k++ {
		if !st.equal(st.ma[baseA+k].val, st.mb[baseB+k].val) {
			return false
		}
	}
	return true
}

// sameOrder reports whether ma and mb have byte-identical keys without
// escapes in the same order, none repeated.
func (st *equalState) sameOrder(ma, mb []member) bool {
	for k := range ma {
		ka, kb := &st.a.nodes[ma[k].key], &st.b.nodes[mb[k].key]
		if ka.esc || kb.esc || string(st.a.text(ma[k].key)) != string(st.b.text(mb[k].key)) {
			return false
		}
		for l := 0; l < k; l++ {
			if string(st.a.text(ma[l].key)) == string(st.a.text(ma[k].key)) {
				return false
			}
		}
	}
	return true
}

// members appends the members of the object at node i.
func (t *tape) members(dst []member, i int32) []member {
	end := t.nodes[i].next
	for k := i + 1; k < end; {
		dst = append(dst, member{key: k, val: k + 1})
		k = t.nodes[k+1].next
	}
	return dst
}

// sortMembers sorts ms by key, keeps the last member of each key at the
// front of ms, and returns how many there are.
func (t *tape) sortMembers(ms []member) int {
	slices.SortStableFunc(ms, func(x, y member) int { return t.compareKeys(x.key, t, y.key) })
	n := 0
	for k := range ms {
		if k+1 < len(ms) && t.compareKeys(ms[k].key, t, ms[k+1].key) == 0 {
			continue // a later member has the same key
		}
		ms[n] = ms[k]
		n++
	}
	return n
}

func (t *tape) compareKeys(i int32, u *tape, j int32) int {
	return compareStrings(t.text(i), t.nodes[i].esc, u.text(j), u.nodes[j].esc)
}

// numbersEqual compares two valid JSON numbers as doubles.
func numbersEqual(a, b []byte) bool {
	if string(a) == string(b) {
		return true
	}
	// Valid JSON numbers always parse (the scanner refuses those past a
	// float64's range); tiny ones give ±0 with an error we ignore, as
	// JavaScript does.
	fa, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(a), len(a)), 64)
	fb, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	return fa == fb
}
