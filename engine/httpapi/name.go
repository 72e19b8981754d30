package httpapi

import (
	"encoding/json"
	"errors"
	"unicode/utf16"
)

// wireName is a name in a POST /api message, decoded so that the session
// layer sees exactly what the client sent: encoding/json would turn invalid
// UTF-8 and lone surrogate escapes into U+FFFD, so that distinct invalid
// names collide in one valid name. Here invalid bytes are kept and a lone
// surrogate becomes its (invalid) three-byte form, and the session refuses
// either with InvalidName, as it does for a connected client.
type wireName string

func (n *wireName) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		*n = ""
		return nil
	}
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return errors.New("a name must be a JSON string")
	}
	s, ok := decodeString(raw[1 : len(raw)-1])
	if !ok {
		var plain string // let encoding/json describe the syntax error
		if err := json.Unmarshal(raw, &plain); err != nil {
			return err
		}
		return errors.New("invalid escape in name")
	}
	*n = wireName(s)
	return nil
}

// decodeString decodes the inside of a JSON string literal, keeping bytes
// that are not valid UTF-8 as they are.
func decodeString(b []byte) (string, bool) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(b) {
			return "", false
		}
		switch b[i] {
		case '"', '\\', '/':
			out = append(out, b[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, i+1)
			if !ok {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r < 0xdc00 && i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					if r2, ok := hex4(b, i+3); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
						out = appendRune(out, utf16.DecodeRune(r, r2))
						i += 6
						continue
					}
				}
				// A lone surrogate: its three-byte form, which is not UTF-8.
				out = append(out, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
				continue
			}
			out = appendRune(out, r)
		default:
			return "", false
		}
	}
	return string(out), true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func appendRune(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xc0|byte(r>>6), 0x80|byte(r)&0x3f)
	case r < 0x10000:
		return append(b, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
	}
	return append(b, 0xf0|byte(r>>18), 0x80|byte(r>>12)&0x3f, 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
}
