package jsonpath

import (
	"strings"
	"unicode/utf8"
)

// MaxIndex is the largest array index a path may hold. Set pads an array
// with nulls up to the index it writes, so the bound caps the padding one
// call can add: at most MaxIndex nulls, about 5 MB. Callers that store
// documents should still bound the size of what Set returns.
const MaxIndex = 1_000_000

// Path is a parsed, validated record path. The zero Path is the root "",
// which means the whole document.
//
// A Path is an immutable value: copy it freely and use it from any
// goroutine. Paths are comparable with ==, because Parse accepts only the
// canonical spelling (no leading zeros in indexes), so two Paths are equal
// exactly when they name the same location.
type Path struct {
	s string // validated, canonical text
	n int    // number of segments
}

// segment is one step of a path: an object key or an array index.
type segment struct {
	key   string
	index int
	isIdx bool
}

// Parse checks s against the path grammar and returns it as a Path.
//
//	path    = "" | first { "." key | index }
//	first   = key | index
//	key     = 1*( any UTF-8 character except "." "[" "]" )
//	index   = "[" ( "0" | nonzero-digit *digit ) "]"     ; value <= MaxIndex
//
// Keys are taken literally: spaces, quotes, backslashes and control
// characters are part of the key. A path has at most MaxDepth segments.
// Errors wrap ErrSyntax and name the byte offset of the problem.
func Parse(s string) (Path, error) {
	n, err := validatePath(s)
	if err != nil {
		return Path{}, err
	}
	return Path{s: s, n: n}, nil
}

// MustParse is Parse for paths written in source code; it panics on a
// syntax error and must not be used on untrusted input.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path's text; Parse(p.String()) == p.
func (p Path) String() string { return p.s }

// Len returns the number of segments; the root has none.
func (p Path) Len() int { return p.n }

// IsRoot reports whether p is the whole-document path "".
func (p Path) IsRoot() bool { return p.n == 0 }

// Parent returns p without its last segment; the root is its own parent.
func (p Path) Parent() Path {
	if p.n <= 1 {
		return Path{}
	}
	i := strings.LastIndexAny(p.s, ".[")
	return Path{s: p.s[:i], n: p.n - 1}
}

// HasPrefix reports whether prefix is p itself or one of its ancestors, by
// whole segments: "a.b" has prefix "a" but "ab" does not. Every path has
// the root as prefix.
//
// For deciding which subscriptions a change may touch: a change at path c
// can alter the value at s only if s.HasPrefix(c) or c.HasPrefix(s), except
// that erasing an array element shifts its later siblings, so for an erase
// ending in an index compare against c.Parent() instead. Equal on the
// values before and after gives the exact answer.
func (p Path) HasPrefix(prefix Path) bool {
	if prefix.n == 0 {
		return true
	}
	if !strings.HasPrefix(p.s, prefix.s) {
		return false
	}
	return len(p.s) == len(prefix.s) || p.s[len(prefix.s)] == '.' || p.s[len(prefix.s)] == '['
}

// Get returns the value at p in doc; see the package function Get.
func (p Path) Get(doc []byte) (value []byte, ok bool, err error) {
	return get(doc, p.s)
}

// Set writes value at p in doc; see the package function Set.
func (p Path) Set(dst, doc, value []byte) ([]byte, error) {
	return set(dst, doc, p.s, value)
}

// Erase removes the value at p from doc; see the package function Erase.
func (p Path) Erase(dst, doc []byte) ([]byte, error) {
	return erase(dst, doc, p.s)
}

// validatePath checks s and returns its number of segments. It allocates
// only to build an error.
func validatePath(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n := 0
	i := 0
	expectKey := s[0] != '[' // the first segment has no leading dot
	for i < len(s) {
		if n == MaxDepth {
			return 0, pathErr(i, "more than 512 segments")
		}
		if expectKey {
			start := i
			for i < len(s) {
				c := s[i]
				if c == '.' || c == '[' || c == ']' {
					break
				}
				if c < utf8.RuneSelf {
					i++
					continue
				}
				r, size := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && size == 1 {
					return 0, pathErr(i, "invalid UTF-8 in key")
				}
				i += size
			}
			if i == start {
				if i < len(s) && s[i] == ']' {
					return 0, pathErr(i, "unexpected ']'")
				}
				return 0, pathErr(i, "empty key")
			}
			if i < len(s) && s[i] == ']' {
				return 0, pathErr(i, "unexpected ']'")
			}
			n++
		} else {
			// s[i] == '['
			i++
			start := i
			v := 0
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				v = v*10 + int(s[i]-'0')
				i++
				if v > MaxIndex {
					return 0, pathErr(start, "index exceeds 1000000")
				}
			}
			if i == start {
				return 0, pathErr(start, "index must be a non-negative decimal integer")
			}
			if s[start] == '0' && i-start > 1 {
				return 0, pathErr(start, "leading zero in index")
			}
			if i >= len(s) {
				return 0, pathErr(i, "missing ']'")
			}
			if s[i] != ']' {
				return 0, pathErr(i, "index must be a non-negative decimal integer")
			}
			i++
			n++
		}
		if i == len(s) {
			break
		}
		switch s[i] {
		case '.':
			i++
			expectKey = true
			if i == len(s) {
				return 0, pathErr(i, "empty key")
			}
		case '[':
			expectKey = false
		default:
			return 0, pathErr(i, "expected '.' or '[' after ']'")
		}
	}
	return n, nil
}

// nextSegment decodes the segment of the validated path s at pos and
// returns the position of the following one (len(s) after the last).
func nextSegment(s string, pos int) (segment, int) {
	if s[pos] == '[' {
		v := 0
		i := pos + 1
		for s[i] != ']' {
			v = v*10 + int(s[i]-'0')
			i++
		}
		return segment{index: v, isIdx: true}, i + 1
	}
	if s[pos] == '.' {
		pos++
	}
	i := pos
	for i < len(s) && s[i] != '.' && s[i] != '[' {
		i++
	}
	return segment{key: s[pos:i]}, i
}
