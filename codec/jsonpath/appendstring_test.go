package jsonpath

import (
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"q\"b\\", `"q\"b\\"`},
		{"\n\r\t\b\f\x01\x1f", `"\n\r\t\b\f\u0001\u001f"`},
		{"héllo ✓", `"héllo ✓"`},
		{"a\xffb\xc3", `"a\ufffdb\ufffd"`},
	} {
		got := AppendString([]byte("x"), c.in)
		if string(got) != "x"+c.want {
			t.Errorf("AppendString(%q) = %s, want %s", c.in, got[1:], c.want)
		}
		if !json.Valid(got[1:]) {
			t.Errorf("AppendString(%q) = %s: not valid JSON", c.in, got[1:])
		}
	}
}
