package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// change is one message of a stream before it is rendered as JSON.
type change struct {
	topic, action, name string
	version             int64
	hasVersion          bool
	path                string
	data                []byte
}

// appendBody renders c as the single-line JSON body of an SSE message:
// {"topic","action","name","version","path","data"}, absent fields left out.
func appendBody(dst []byte, c *change) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendString(dst, c.topic)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, c.action)
	if c.name != "" {
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, c.name)
	}
	if c.hasVersion {
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendInt(dst, c.version, 10)
	}
	if c.path != "" {
		dst = append(dst, `,"path":`...)
		dst = appendString(dst, c.path)
	}
	if len(c.data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = appendData(dst, c.data)
	}
	return append(dst, '}')
}

// appendData appends JSON data on one line: valid JSON compacted when it
// holds line breaks, anything else as a JSON string.
func appendData(dst, data []byte) []byte {
	if !json.Valid(data) {
		return appendString(dst, string(data))
	}
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		return append(dst, data...)
	}
	var b bytes.Buffer
	_ = json.Compact(&b, data) // data is valid
	return append(dst, b.Bytes()...)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					dst = append(dst, '\\', 'n')
				case '\r':
					dst = append(dst, '\\', 'r')
				case '\t':
					dst = append(dst, '\\', 't')
				default:
					dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
				}
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
