package jsonpath

import (
	"strconv"
	"unsafe"
)

// Get returns the JSON text of the value at path in doc. ok is false when
// the path leads nowhere: a missing key, an index past the end, or a step
// of the wrong kind (a key on a non-object, an index on a non-array).
//
// Get checks all of doc (errors wrap ErrJSON) and the path (ErrSyntax). The
// value aliases doc, capped so that appending to it cannot write into doc;
// it is compact when doc is, as every document Set and Erase produce is.
// Get allocates nothing unless it fails.
func Get(doc []byte, path string) (value []byte, ok bool, err error) {
	if _, err := validatePath(path); err != nil {
		return nil, false, err
	}
	return get(doc, path)
}

// Set appends to dst the document doc with value written at path, and
// returns the extended dst. Missing objects and arrays on the way are
// created, arrays are padded with null up to the index written, and a step
// of the wrong kind replaces what is there (see the package comment). The
// path "" replaces the whole document.
//
// doc and value must each be one valid JSON value; errors wrap ErrJSON (for
// doc), ErrValue (for value) or ErrSyntax (for path), and then dst is
// returned unchanged in length. The result is compact. dst must not share
// memory with doc or value beyond its length (ErrOverlap). With enough
// capacity in dst, Set allocates nothing.
func Set(dst, doc []byte, path string, value []byte) ([]byte, error) {
	if _, err := validatePath(path); err != nil {
		return dst, err
	}
	return set(dst, doc, path, value)
}

// SetMax is Set with a bound on the result: it fails with an error wrapping
// ErrTooLarge, before writing them, as soon as the bytes it would append to
// dst pass max. Padding an array up to a far index (a path step like
// [1000000]) is checked before it is written, so a small patch cannot build
// a large document first. max <= 0 means no bound.
func SetMax(dst, doc []byte, path string, value []byte, max int) ([]byte, error) {
	if _, err := validatePath(path); err != nil {
		return dst, err
	}
	return setMax(dst, doc, path, value, max)
}

// Erase appends to dst the document doc without the value at path, and
// returns the extended dst. Erasing an object key removes the member (every
// member with that key); erasing an array element removes it and shifts the
// later ones down. Erasing a missing path leaves the document as it is (in
// compact form) and is not an error. The path "" returns ErrRoot. Errors and
// allocation are as for Set.
func Erase(dst, doc []byte, path string) ([]byte, error) {
	if _, err := validatePath(path); err != nil {
		return dst, err
	}
	return erase(dst, doc, path)
}

func get(doc []byte, path string) ([]byte, bool, error) {
	w := walker{doc: doc, path: path, op: opGet}
	if err := w.document(); err != nil {
		return nil, false, err
	}
	if !w.found {
		return nil, false, nil
	}
	return doc[w.start:w.end:w.end], true, nil
}

func set(dst, doc []byte, path string, value []byte) ([]byte, error) {
	return setMax(dst, doc, path, value, 0)
}

func setMax(dst, doc []byte, path string, value []byte, max int) ([]byte, error) {
	if overlaps(dst, doc) || overlaps(dst, value) {
		return dst, ErrOverlap
	}
	start, end, ws, levels, err := scanDocument(value)
	if err != nil {
		return dst, asValueErr(err)
	}
	w := walker{doc: doc, path: path, op: opSet, dst: dst,
		val: value[start:end], valWS: ws, valDepth: levels}
	if max > 0 {
		w.limit, w.max = len(dst)+max, max
	}
	if err := w.document(); err != nil {
		return dst, err
	}
	if w.limit > 0 && len(w.dst) > w.limit {
		return dst, tooLarge(max)
	}
	return w.dst, nil
}

func erase(dst, doc []byte, path string) ([]byte, error) {
	if path == "" {
		return dst, ErrRoot
	}
	if overlaps(dst, doc) {
		return dst, ErrOverlap
	}
	w := walker{doc: doc, path: path, op: opErase, dst: dst}
	if err := w.document(); err != nil {
		return dst, err
	}
	return w.dst, nil
}

// overlaps reports whether appending to dst could write into b: whether
// the spare capacity of dst and b share memory.
func overlaps(dst, b []byte) bool {
	if cap(dst) == len(dst) || len(b) == 0 {
		return false
	}
	free := dst[len(dst):cap(dst)]
	fs := uintptr(unsafe.Pointer(unsafe.SliceData(free)))
	bs := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return fs < bs+uintptr(len(b)) && bs < fs+uintptr(len(free))
}

type op uint8

const (
	opGet op = iota
	opSet
	opErase
)

// walker runs one Get, Set or Erase in a single pass over doc: it checks
// every byte, follows the path, and (for Set and Erase) appends the new
// document to dst as it goes. Each byte of doc is scanned once; the
// recursion follows only the path, so it is at most MaxDepth deep.
type walker struct {
	doc  []byte
	path string // validated
	op   op
	dst  []byte

	// Set: the validated value, whether it holds whitespace, its depth.
	val      []byte
	valWS    bool
	valDepth int

	// Set: the length dst may not pass (0: none), which is max bytes past
	// its length at the start; see room.
	limit, max int

	// Get: the span of the value found.
	found      bool
	start, end int
}

func (w *walker) document() error {
	i := skipSpace(w.doc, 0)
	if i == len(w.doc) {
		return jsonErr(i, "empty input")
	}
	end, err := w.value(i, 0, 0)
	if err != nil {
		return err
	}
	if j := skipSpace(w.doc, end); j != len(w.doc) {
		return jsonErr(j, "unexpected data after the value")
	}
	return nil
}

// value handles the value at doc[i] (i < len(doc)), nested in depth
// containers, where the rest of the path starts at path[pos]. It returns
// the offset after the value.
func (w *walker) value(i, pos, depth int) (int, error) {
	if pos < len(w.path) {
		seg, next := nextSegment(w.path, pos)
		switch c := w.doc[i]; {
		case c == '{' && !seg.isIdx:
			return w.object(i, seg.key, next, depth)
		case c == '[' && seg.isIdx:
			return w.array(i, seg.index, next, depth)
		}
	}
	end, ws, _, err := skipValue(w.doc, i, depth)
	if err != nil {
		return 0, err
	}
	switch {
	case pos == len(w.path) && w.op == opGet:
		w.found, w.start, w.end = true, i, end
	case pos == len(w.path) && w.op == opSet:
		return end, w.emitValue(depth)
	case w.op == opGet:
		w.found = false // a step of the wrong kind: nothing here
	case w.op == opSet:
		return end, w.create(pos, depth) // replace with what the path needs
	default:
		w.dst = appendValue(w.dst, w.doc[i:end], ws) // erase of a missing path
	}
	return end, nil
}

// object walks the object at doc[i] looking for key; the path continues
// at path[next].
func (w *walker) object(i int, key string, next, depth int) (int, error) {
	if depth >= MaxDepth {
		return 0, jsonErr(i, "nesting deeper than 512")
	}
	doc := w.doc
	emit := w.op != opGet
	final := next == len(w.path)
	if emit {
		w.dst = append(w.dst, '{')
	}
	w.found = false
	matched := false
	n := 0 // members written to dst
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		i++
	} else {
		for {
			if i >= len(doc) || doc[i] != '"' {
				return 0, jsonErr(i, "expected string for object key")
			}
			kStart := i
			kEnd, esc, err := scanString(doc, i)
			if err != nil {
				return 0, err
			}
			i = skipSpace(doc, kEnd)
			if i >= len(doc) || doc[i] != ':' {
				return 0, jsonErr(i, "expected ':' after object key")
			}
			i = skipSpace(doc, i+1)
			if i >= len(doc) {
				return 0, jsonErr(i, "unexpected end of input")
			}
			switch {
			case matchKey(doc[kStart+1:kEnd-1], esc, key):
				matched = true
				if w.op == opErase && final {
					i, _, _, err = skipValue(doc, i, depth+1) // dropped
					break
				}
				if emit {
					w.member(n, doc[kStart:kEnd])
					n++
				}
				i, err = w.value(i, next, depth+1)
			case emit:
				var end int
				var ws bool
				if end, ws, _, err = skipValue(doc, i, depth+1); err != nil {
					return 0, err
				}
				w.member(n, doc[kStart:kEnd])
				n++
				w.dst = appendValue(w.dst, doc[i:end], ws)
				i = end
			default:
				i, _, _, err = skipValue(doc, i, depth+1)
			}
			if err != nil {
				return 0, err
			}
			i = skipSpace(doc, i)
			if i < len(doc) && doc[i] == ',' {
				i = skipSpace(doc, i+1)
				continue
			}
			if i < len(doc) && doc[i] == '}' {
				i++
				break
			}
			if i >= len(doc) {
				return 0, jsonErr(i, "unexpected end of input")
			}
			return 0, jsonErr(i, "expected ',' or '}' after object member")
		}
	}
	if w.op == opSet && !matched {
		if n > 0 {
			w.dst = append(w.dst, ',')
		}
		w.dst = AppendString(w.dst, key)
		w.dst = append(w.dst, ':')
		if err := w.create(next, depth+1); err != nil {
			return 0, err
		}
	}
	if emit {
		w.dst = append(w.dst, '}')
	}
	return i, nil
}

// member appends the separator and `"key":` for the n-th member written.
func (w *walker) member(n int, rawKey []byte) {
	if n > 0 {
		w.dst = append(w.dst, ',')
	}
	w.dst = append(w.dst, rawKey...)
	w.dst = append(w.dst, ':')
}

// array walks the array at doc[i] looking for element idx; the path
// continues at path[next].
func (w *walker) array(i, idx, next, depth int) (int, error) {
	if depth >= MaxDepth {
		return 0, jsonErr(i, "nesting deeper than 512")
	}
	doc := w.doc
	emit := w.op != opGet
	final := next == len(w.path)
	if emit {
		w.dst = append(w.dst, '[')
	}
	w.found = false
	count := 0 // elements read
	n := 0     // elements written
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == ']' {
		i++
	} else {
		for {
			if i >= len(doc) {
				return 0, jsonErr(i, "unexpected end of input")
			}
			var err error
			switch {
			case count == idx && w.op == opErase && final:
				i, _, _, err = skipValue(doc, i, depth+1) // dropped
			case count == idx:
				if emit && n > 0 {
					w.dst = append(w.dst, ',')
				}
				n++
				i, err = w.value(i, next, depth+1)
			case emit:
				var end int
				var ws bool
				if end, ws, _, err = skipValue(doc, i, depth+1); err != nil {
					return 0, err
				}
				if n > 0 {
					w.dst = append(w.dst, ',')
				}
				n++
				w.dst = appendValue(w.dst, doc[i:end], ws)
				i = end
			default:
				i, _, _, err = skipValue(doc, i, depth+1)
			}
			if err != nil {
				return 0, err
			}
			count++
			i = skipSpace(doc, i)
			if i < len(doc) && doc[i] == ',' {
				i = skipSpace(doc, i+1)
				continue
			}
			if i < len(doc) && doc[i] == ']' {
				i++
				break
			}
			if i >= len(doc) {
				return 0, jsonErr(i, "unexpected end of input")
			}
			return 0, jsonErr(i, "expected ',' or ']' after array element")
		}
	}
	if w.op == opSet && idx >= count {
		if err := w.room(5 * (idx - count)); err != nil {
			return 0, err
		}
		for ; count < idx; count++ {
			if n > 0 {
				w.dst = append(w.dst, ',')
			}
			n++
			w.dst = append(w.dst, "null"...)
		}
		if n > 0 {
			w.dst = append(w.dst, ',')
		}
		if err := w.create(next, depth+1); err != nil {
			return 0, err
		}
	}
	if emit {
		w.dst = append(w.dst, ']')
	}
	return i, nil
}

// create appends a new structure holding the value at the path's rest,
// path[pos:], for a value nested in depth containers.
func (w *walker) create(pos, depth int) error {
	if pos == len(w.path) {
		return w.emitValue(depth)
	}
	if depth >= MaxDepth {
		return tooDeep()
	}
	seg, next := nextSegment(w.path, pos)
	if seg.isIdx {
		if err := w.room(1 + 5*seg.index); err != nil {
			return err
		}
		w.dst = append(w.dst, '[')
		for k := 0; k < seg.index; k++ {
			w.dst = append(w.dst, "null,"...)
		}
	} else {
		w.dst = append(w.dst, '{')
		w.dst = AppendString(w.dst, seg.key)
		w.dst = append(w.dst, ':')
	}
	if err := w.create(next, depth+1); err != nil {
		return err
	}
	if seg.isIdx {
		w.dst = append(w.dst, ']')
	} else {
		w.dst = append(w.dst, '}')
	}
	return nil
}

// room fails with ErrTooLarge when appending n more bytes would take dst
// past the limit.
func (w *walker) room(n int) error {
	if w.limit > 0 && len(w.dst)+n > w.limit {
		return tooLarge(w.max)
	}
	return nil
}

func tooLarge(max int) error {
	return &Error{Kind: ErrTooLarge, Offset: 0, Reason: "the result would exceed " + strconv.Itoa(max) + " bytes"}
}

// emitValue appends Set's value, placed inside depth containers.
func (w *walker) emitValue(depth int) error {
	if depth+w.valDepth > MaxDepth {
		return tooDeep()
	}
	w.dst = appendValue(w.dst, w.val, w.valWS)
	return nil
}

func tooDeep() error {
	return &Error{Kind: ErrValue, Offset: 0, Reason: "the value at this path would nest the document deeper than 512"}
}
