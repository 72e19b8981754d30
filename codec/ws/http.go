package ws

import (
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
)

// DefaultMaxHeader is the request or response head size used when
// ParseRequest is given maxSize <= 0, and by ParseResponse.
const DefaultMaxHeader = 16 << 10

var crlfcrlf = []byte("\r\n\r\n")

// findHead returns the length of the HTTP head (request or status line plus
// header fields plus the empty line) at the start of buf, or 0 when buf does
// not hold all of it yet. The head may not exceed max bytes. Lines must end
// with CRLF: a bare LF is an error rather than something to wait past.
func findHead(buf []byte, max int, sentinel error) (int, error) {
	window := buf
	if len(window) > max {
		window = window[:max]
	}
	if i := bytes.Index(window, crlfcrlf); i >= 0 {
		window = window[:i+4]
		if err := checkLineEnds(window, sentinel); err != nil {
			return 0, err
		}
		return i + 4, nil
	}
	if err := checkLineEnds(window, sentinel); err != nil {
		return 0, err
	}
	if len(buf) >= max {
		if sentinel == ErrBadRequest {
			return 0, badRequest("%w: head exceeds %d bytes", ErrTooLarge, max)
		}
		return 0, badResponse("head exceeds %d bytes", max)
	}
	return 0, nil
}

func checkLineEnds(b []byte, sentinel error) error {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return nil
		}
		off += i
		if off == 0 || b[off-1] != '\r' {
			return headError(sentinel, "line ends with a bare LF")
		}
		off++
	}
}

func headError(sentinel error, format string, args ...any) error {
	if sentinel == ErrBadRequest {
		return badRequest(format, args...)
	}
	return badResponse(format, args...)
}

// parseFields parses the header field lines of a head (everything after the
// first line, up to but excluding the final empty line) into h with
// canonical keys. Field names must be tokens with no space before the colon;
// values may not hold control characters other than HTAB; obsolete line
// folding is rejected.
func parseFields(lines []byte, h http.Header, sentinel error) error {
	for len(lines) > 0 {
		i := bytes.Index(lines, crlfcrlf[:2])
		if i < 0 {
			return headError(sentinel, "unterminated header line")
		}
		line := lines[:i]
		lines = lines[i+2:]
		if len(line) == 0 {
			return headError(sentinel, "empty header line")
		}
		if line[0] == ' ' || line[0] == '\t' {
			return headError(sentinel, "folded header line")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return headError(sentinel, "header line without a name")
		}
		name := line[:colon]
		for _, c := range name {
			if !isTokenChar(c) {
				return headError(sentinel, "invalid character %q in header name", c)
			}
		}
		value := trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return headError(sentinel, "control character in header %q", name)
			}
		}
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		h[key] = append(h[key], string(value))
	}
	return nil
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 7230 3.2.6).
func isTokenChar(c byte) bool {
	if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// hasToken reports whether any comma-separated element of the field's values
// equals token, ignoring case.
func hasToken(h http.Header, key, token string) bool {
	for _, v := range h[key] {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(elem), token) {
				return true
			}
		}
	}
	return false
}

// single returns the only value of a field, or ok=false when the field is
// absent or repeated.
func single(h http.Header, key string) (string, bool) {
	v := h[key]
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

// appendField appends "key: value\r\n", replacing CR, LF and NUL in value
// with spaces so that a value can never end the line early.
func appendField(dst []byte, key, value string) []byte {
	dst = append(dst, key...)
	dst = append(dst, ": "...)
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, "\r\n"...)
}
