package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzWireName checks the name decoder against encoding/json: they agree on
// every string that is valid UTF-8 once decoded, and where they differ the
// name is one the session refuses (not valid UTF-8).
func FuzzWireName(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u00e9t\u00e9"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, "\"a\xffb\"", `"\"\\\/\b\f\n\r\t"`, `null`, `"\u12"`, `1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		werr := json.Unmarshal(raw, &want)
		var got wireName
		gerr := json.Unmarshal(raw, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json %v, wireName %v", raw, werr, gerr)
		}
		if werr != nil {
			return
		}
		if utf8.ValidString(string(got)) {
			if string(got) != want {
				t.Fatalf("%q: wireName %q, encoding/json %q", raw, got, want)
			}
		} else if !strings.Contains(want, "\uFFFD") {
			t.Fatalf("%q: wireName %q is not UTF-8 but encoding/json found nothing to replace (%q)", raw, got, want)
		}
	})
}
