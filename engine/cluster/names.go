package cluster

import "strings"

// plain reports whether b passes through EncodeName unchanged: the bytes
// valid in one NATS subject token and in a JetStream KV key, less '=',
// which starts an escape, and '.', which separates tokens.
func plain(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '/'
}

const hexDigits = "0123456789ABCDEF"

// AppendName appends the encoding of name to dst: plain bytes as they are,
// every other byte as '=' and two upper-case hex digits, and the empty name
// as a lone "=". The result is one NATS subject token and a valid KV key;
// distinct names never share an encoding, and DecodeName reverses it.
func AppendName(dst []byte, name string) []byte {
	if name == "" {
		return append(dst, '=')
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plain(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '=', hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

// EncodeName returns AppendName's encoding of name as a string.
func EncodeName(name string) string {
	for i := 0; i < len(name); i++ {
		if !plain(name[i]) {
			return string(AppendName(make([]byte, 0, len(name)+16), name))
		}
	}
	if name == "" {
		return "="
	}
	return name
}

// DecodeName reverses EncodeName; ok is false for a token EncodeName
// cannot have produced.
func DecodeName(token string) (name string, ok bool) {
	if token == "=" {
		return "", true
	}
	if token == "" || strings.IndexByte(token, '=') < 0 {
		for i := 0; i < len(token); i++ {
			if !plain(token[i]) {
				return "", false
			}
		}
		return token, token != ""
	}
	b := make([]byte, 0, len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '=':
			if i+2 >= len(token) {
				return "", false
			}
			hi, lo := unhex(token[i+1]), unhex(token[i+2])
			if hi < 0 || lo < 0 {
				return "", false
			}
			v := byte(hi<<4 | lo)
			if plain(v) {
				return "", false // EncodeName never escapes a plain byte
			}
			b = append(b, v)
			i += 2
		case plain(c):
			b = append(b, c)
		default:
			return "", false
		}
	}
	return string(b), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
