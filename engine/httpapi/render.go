package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
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
	dst = jsonpath.AppendString(dst, c.topic)
	dst = append(dst, `,"action":`...)
	dst = jsonpath.AppendString(dst, c.action)
	if c.name != "" {
		dst = append(dst, `,"name":`...)
		dst = jsonpath.AppendString(dst, c.name)
	}
	if c.hasVersion {
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendInt(dst, c.version, 10)
	}
	if c.path != "" {
		dst = append(dst, `,"path":`...)
		dst = jsonpath.AppendString(dst, c.path)
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
		return jsonpath.AppendString(dst, string(data))
	}
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		return append(dst, data...)
	}
	var b bytes.Buffer
	_ = json.Compact(&b, data) // data is valid
	return append(dst, b.Bytes()...)
}
