package jsonpath

import (
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth is the deepest nesting of objects and arrays a document may have
// (a scalar has depth 0, "[]" depth 1). Deeper input is rejected, so no
// input can exhaust the stack, and Set refuses to build a deeper document.
const MaxDepth = 512

// byte classes for the scanner.
var (
	// isSpace marks JSON insignificant whitespace.
	isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}
	// plainStr marks bytes that may appear in a string with no further
	// check: printable ASCII other than '"' and '\\'.
	plainStr = func() (t [256]bool) {
		for c := 0x20; c < 0x80; c++ {
			t[c] = c != '"' && c != '\\'
		}
		return t
	}()
)

// Valid reports whether b is one valid JSON value (RFC 8259) optionally
// surrounded by whitespace, with valid UTF-8 in its strings and at most
// MaxDepth levels of nesting. The error wraps ErrJSON and names the byte
// offset. Valid allocates nothing unless it fails.
func Valid(b []byte) error {
	_, _, _, _, err := scanDocument(b)
	return err
}

// Compact appends b to dst without insignificant whitespace, after checking
// that b is valid (errors as for Valid). dst must not share memory with b.
func Compact(dst, b []byte) ([]byte, error) {
	if overlaps(dst, b) {
		return dst, ErrOverlap
	}
	start, end, ws, _, err := scanDocument(b)
	if err != nil {
		return dst, err
	}
	return appendValue(dst, b[start:end], ws), nil
}

// scanDocument checks a whole document and returns the span of its value,
// whether that span holds whitespace, and its nesting depth.
func scanDocument(b []byte) (start, end int, ws bool, levels int, err error) {
	start = skipSpace(b, 0)
	if start == len(b) {
		return 0, 0, false, 0, jsonErr(start, "empty input")
	}
	end, ws, levels, err = skipValue(b, start, 0)
	if err != nil {
		return 0, 0, false, 0, err
	}
	if j := skipSpace(b, end); j != len(b) {
		return 0, 0, false, 0, jsonErr(j, "unexpected data after the value")
	}
	return start, end, ws, levels, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace[b[i]] {
		i++
	}
	return i
}

// skipValue checks the value starting at b[i] (not whitespace), nested
// inside depth containers, and returns where it ends, whether it contains
// insignificant whitespace, and how many container levels it adds. It is
// iterative, with the kind of each open container kept in a bit stack, so
// its stack use does not grow with the input.
func skipValue(b []byte, i, depth int) (end int, ws bool, levels int, err error) {
	var objs [MaxDepth/64 + 1]uint64 // bit set: the container at that level is an object
	level := 0
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return 0, false, 0, jsonErr(i, "unexpected end of input")
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth+level >= MaxDepth {
				return 0, false, 0, jsonErr(i, "nesting deeper than 512")
			}
			if c == '{' {
				objs[level>>6] |= 1 << (level & 63)
			} else {
				objs[level>>6] &^= 1 << (level & 63)
			}
			level++
			if level > levels {
				levels = level
			}
			j := skipSpace(b, i+1)
			ws = ws || j != i+1
			i = j
			if i < len(b) && (b[i] == '}' && c == '{' || b[i] == ']' && c == '[') {
				i++
				level--
				break // to the code after a value
			}
			if c == '[' {
				continue // an element starts at b[i]
			}
			if i, ws, err = skipMemberKey(b, i, ws); err != nil {
				return 0, false, 0, err
			}
			continue
		case '"':
			if i, _, err = scanString(b, i); err != nil {
				return 0, false, 0, err
			}
		case 't':
			if i, err = scanLiteral(b, i, "true"); err != nil {
				return 0, false, 0, err
			}
		case 'f':
			if i, err = scanLiteral(b, i, "false"); err != nil {
				return 0, false, 0, err
			}
		case 'n':
			if i, err = scanLiteral(b, i, "null"); err != nil {
				return 0, false, 0, err
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return 0, false, 0, jsonErr(i, "unexpected character")
			}
			if i, err = scanNumber(b, i); err != nil {
				return 0, false, 0, err
			}
		}
		// After a complete value: close containers or move to the next item.
		for {
			if level == 0 {
				return i, ws, levels, nil
			}
			j := skipSpace(b, i)
			ws = ws || j != i
			i = j
			if i >= len(b) {
				return 0, false, 0, jsonErr(i, "unexpected end of input")
			}
			inObj := objs[(level-1)>>6]&(1<<((level-1)&63)) != 0
			if b[i] == ',' {
				j := skipSpace(b, i+1)
				ws = ws || j != i+1
				i = j
				if inObj {
					if i, ws, err = skipMemberKey(b, i, ws); err != nil {
						return 0, false, 0, err
					}
				}
				break // the next value starts at b[i]
			}
			if inObj && b[i] == '}' || !inObj && b[i] == ']' {
				i++
				level--
				continue
			}
			if inObj {
				return 0, false, 0, jsonErr(i, "expected ',' or '}' after object member")
			}
			return 0, false, 0, jsonErr(i, "expected ',' or ']' after array element")
		}
	}
}

// skipMemberKey checks `"key" :` at b[i] and returns the start of the
// member's value (after whitespace).
func skipMemberKey(b []byte, i int, ws bool) (int, bool, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, jsonErr(i, "expected string for object key")
	}
	i, _, err := scanString(b, i)
	if err != nil {
		return 0, false, err
	}
	j := skipSpace(b, i)
	ws = ws || j != i
	i = j
	if i >= len(b) || b[i] != ':' {
		return 0, false, jsonErr(i, "expected ':' after object key")
	}
	j = skipSpace(b, i+1)
	ws = ws || j != i+1
	return j, ws, nil
}

// scanString checks the string whose opening quote is at b[i] and returns
// the offset after its closing quote and whether it holds escapes.
func scanString(b []byte, i int) (end int, esc bool, err error) {
	i++
	for {
		// Byte by byte up to the next byte that needs a look; after eight
		// plain bytes the run goes on eight at a time (short strings, most
		// keys and values, never pay for the wide test).
		end := min(i+8, len(b))
		for i < end && plainStr[b[i]] {
			i++
		}
		if i == end {
			for i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
				i += 8
			}
			for i < len(b) && plainStr[b[i]] {
				i++
			}
		}
		if i >= len(b) {
			return 0, false, jsonErr(i, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, jsonErr(i+1, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, false, jsonErr(i, "short \\u escape")
				}
				for k := i + 2; k < i+6; k++ {
					if unhex(b[k]) < 0 {
						return 0, false, jsonErr(k, "invalid hex digit in \\u escape")
					}
				}
				i += 6
			default:
				return 0, false, jsonErr(i, "invalid escape")
			}
		case c < 0x20:
			return 0, false, jsonErr(i, "control character in string")
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, jsonErr(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

// plain8 reports whether all eight bytes of v are plain string bytes
// (plainStr): none below 0x20, none at or above 0x80, no '"' and no '\\'.
// Each test flags a byte's high bit exactly when some byte matches: x-lo*n
// borrows into a byte's high bit only if that byte (or one below it, which
// then matches itself) is under n, and &^x drops bytes that had it set.
func plain8(v uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := v ^ (lo * '"')
	bs := v ^ (lo * '\\')
	return (v|(v-lo*0x20)&^v|(q-lo)&^q|(bs-lo)&^bs)&hi == 0
}

// scanNumber checks the number starting at b[i] and returns its end.
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, jsonErr(start, "invalid number")
	}
	// A number that overflows a float64 needs an exponent or more than 308
	// integer digits; only those are parsed to check.
	huge := i-start > 308
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, jsonErr(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		huge = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, jsonErr(start, "invalid number")
		}
	}
	if huge {
		if f, _ := strconv.ParseFloat(unsafe.String(&b[start], i-start), 64); math.IsInf(f, 0) {
			return 0, jsonErr(start, "number out of the range of a float64")
		}
	}
	return i, nil
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, jsonErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// appendValue appends the validated value v, removing whitespace when ws
// says it has some.
func appendValue(dst, v []byte, ws bool) []byte {
	if !ws {
		return append(dst, v...)
	}
	return appendCompact(dst, v)
}

// appendCompact appends the validated value v without the whitespace
// outside its strings.
func appendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		if isSpace[c] {
			i++
			continue
		}
		if c != '"' {
			start := i
			for i < len(v) && !isSpace[v[i]] && v[i] != '"' {
				i++
			}
			dst = append(dst, v[start:i]...)
			continue
		}
		end, _, _ := scanString(v, i) // validated before; cannot fail
		dst = append(dst, v[i:end]...)
		i = end
	}
	return dst
}

// AppendString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, so the
// result is always valid JSON.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				start = i + 1
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// nextRune decodes the character at s[i] of the content of a validated
// JSON string (no quotes) and returns it with the offset after it. A \u
// escape of a surrogate pair yields the combined character; an unpaired
// surrogate escape yields the surrogate's own value, which no valid UTF-8
// text decodes to, so it compares equal only to the same escape.
func nextRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c != '\\' {
		if c < utf8.RuneSelf {
			return rune(c), i + 1
		}
		r, size := utf8.DecodeRune(s[i:])
		return r, i + size
	}
	switch s[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(s[i+2:])
		if r >= 0xD800 && r < 0xDC00 && i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
			if lo := hex4(s[i+8:]); lo >= 0xDC00 && lo < 0xE000 {
				return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), i + 12
			}
		}
		return r, i + 6
	}
	return rune(s[i+1]), i + 2 // '"', '\\', '/'
}

func hex4(s []byte) rune {
	return rune(unhex(s[0])<<12 | unhex(s[1])<<8 | unhex(s[2])<<4 | unhex(s[3]))
}

// matchKey reports whether the content of a validated JSON string (raw,
// with escapes if esc) denotes key.
func matchKey(raw []byte, esc bool, key string) bool {
	if !esc {
		return string(raw) == key
	}
	i, k := 0, 0
	for i < len(raw) {
		if k >= len(key) {
			return false
		}
		var r rune
		r, i = nextRune(raw, i)
		kr, size := utf8.DecodeRuneInString(key[k:])
		if r != kr {
			return false
		}
		k += size
	}
	return k == len(key)
}

// compareStrings orders the contents of two validated JSON strings by the
// characters they denote (code point order, as bytes.Compare orders UTF-8).
func compareStrings(a []byte, aEsc bool, b []byte, bEsc bool) int {
	if !aEsc && !bEsc {
		switch {
		case string(a) < string(b):
			return -1
		case string(a) > string(b):
			return 1
		}
		return 0
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		var ra, rb rune
		ra, i = nextRune(a, i)
		rb, j = nextRune(b, j)
		if ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}
