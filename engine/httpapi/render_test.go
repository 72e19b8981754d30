package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendBody(t *testing.T) {
	cases := []struct {
		c    change
		want string
	}{
		{change{topic: "event", action: "emit", name: "news", data: []byte(`{"a":1}`)}, `{"topic":"event","action":"emit","name":"news","data":{"a":1}}`},
		{change{topic: "event", action: "emit", name: "news"}, `{"topic":"event","action":"emit","name":"news"}`},
		{change{topic: "record", action: "patch", name: "r", version: 0, hasVersion: true, path: "a.b", data: []byte(`null`)}, `{"topic":"record","action":"patch","name":"r","version":0,"path":"a.b","data":null}`},
		{change{topic: "record", action: "read", name: "r", version: -1, hasVersion: true, data: []byte("{\n  \"a\": [1,\r\n 2]\n}")}, `{"topic":"record","action":"read","name":"r","version":-1,"data":{"a":[1,2]}}`},
		{change{topic: "event", action: "emit", name: "x", data: []byte("not json\n")}, `{"topic":"event","action":"emit","name":"x","data":"not json\n"}`},
		{change{topic: "event", action: "emit", name: "q\"\\\x01\t\u2028é", data: []byte(`"s"`)}, `{"topic":"event","action":"emit","name":"q\"\\\u0001\t` + "\u2028é" + `","data":"s"}`},
		{change{topic: "event", action: "emit", name: "bad\xffutf8"}, `{"topic":"event","action":"emit","name":"bad\ufffdutf8"}`},
		{change{topic: "stream", action: "ready"}, `{"topic":"stream","action":"ready"}`},
	}
	for _, c := range cases {
		got := string(appendBody(nil, &c.c))
		if got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

// FuzzAppendBody: whatever the name, path and data, the body is one line
// of valid JSON whose fields decode back to the inputs (data as the same
// JSON when it was JSON, compacted when it held line breaks, else as a
// string).
func FuzzAppendBody(f *testing.F) {
	f.Add("news/sport", "a.b[2]", []byte(`{"score":[2,1]}`))
	f.Add("x", "", []byte("{\n\"a\":\"b\\nc\"}"))
	f.Add("\x00\xff", "\r\n", []byte("\x7f not json"))
	f.Add("", "", []byte{})
	f.Fuzz(func(t *testing.T, name, path string, data []byte) {
		body := appendBody(nil, &change{topic: "record", action: "patch", name: name, version: 3, hasVersion: true, path: path, data: data})
		if bytes.ContainsAny(body, "\r\n") {
			t.Fatalf("body spans lines: %q", body)
		}
		var got struct {
			Name, Path string
			Version    int64
			Data       json.RawMessage
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("not JSON: %v: %q", err, body)
		}
		if utf8.ValidString(name) && got.Name != name {
			t.Fatalf("name %q came back as %q", name, got.Name)
		}
		if utf8.ValidString(path) && got.Path != path {
			t.Fatalf("path %q came back as %q", path, got.Path)
		}
		switch {
		case len(data) == 0:
			if got.Data != nil {
				t.Fatalf("data appeared: %s", got.Data)
			}
		case json.Valid(data):
			// The same JSON: single-line data passes through as it was,
			// data with line breaks comes back compacted.
			var want, have bytes.Buffer
			_ = json.Compact(&want, data)
			_ = json.Compact(&have, got.Data)
			if !bytes.Equal(have.Bytes(), want.Bytes()) {
				t.Fatalf("data %q came back as %q", data, got.Data)
			}
			if bytes.ContainsAny(data, "\r\n") && !bytes.Equal(got.Data, want.Bytes()) {
				t.Fatalf("data with line breaks %q came back as %q, want it compacted", data, got.Data)
			}
		case utf8.Valid(data):
			var s string
			if err := json.Unmarshal(got.Data, &s); err != nil || s != string(data) {
				t.Fatalf("non-JSON data %q came back as %s", data, got.Data)
			}
		}
	})
}
