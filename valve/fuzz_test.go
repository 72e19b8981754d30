package valve

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eddy-realtime/eddy/valve/syntax"
)

// fuzzRules exercises every feature: all topics and actions, captures,
// stars, data paths, whole values, user data, records and helpers.
const fuzzRules = `record:
  "*": { read: true, listen: "name contains 'x'" }
  "a/$x/*": { read: "$x == user.id || user.data.admin == true", write: "data.a.b[0] > oldData.a.b[0]" }
  "$p/$q": { create: "len(data) > 1 && data[$q] != nil", delete: "oldData.owner == user.id" }
  "r/*": { read: "_(name + '/meta').ok && _(_('ptr').to).ok", write: "_(data.ref) != nil" }
  "m/*": { read: "name matches '^m/[0-9]+$' && lower(name) == name && now > 0" }
event:
  "*": { publish: "data.n % 2 == 0 || data.s startsWith 'ok'", subscribe: true, listen: false }
rpc:
  "$svc/*": { provide: "$svc == user.id", request: "data.amount / 2 < 10 && 'x' in data.tags" }
presence:
  "*": { allow: "user.isAuthenticated" }
`

type fuzzReader struct{ docs map[string]string }

func (f fuzzReader) ReadRecord(name string) ([]byte, bool, error) {
	if name == "fail" {
		return nil, false, errors.New("fail")
	}
	d, ok := f.docs[name]
	return []byte(d), ok, nil
}

// FuzzCheck sends random names, users and JSON through fixed rules: Check
// must never panic, and every decision must be well formed.
func FuzzCheck(f *testing.F) {
	r, err := Parse([]byte(fuzzRules), "fuzz.yaml")
	if err != nil {
		f.Fatal(err)
	}
	rr := fuzzReader{docs: map[string]string{
		"r/1/meta": `{"ok": true}`, "ptr": `{"to": "r/1/meta"}`, "bad": `{`,
	}}
	f.Add(uint8(0), uint8(1), "a/ann/x", "ann", `{"admin": true}`, `{"a": {"b": [2]}}`, `{"a": {"b": [1]}}`)
	f.Add(uint8(0), uint8(2), "u/k", "u", `{}`, `{"k": 1, "j": 2}`, ``)
	f.Add(uint8(0), uint8(0), "r/1", "", ``, `{"ref": "bad"}`, `null`)
	f.Add(uint8(1), uint8(0), "e", "x", `[`, `{"n": 4, "s": "ok"}`, `{"n": "4"}`)
	f.Add(uint8(2), uint8(1), "svc/add", "svc", `{"x":1}`, `{"amount": 3, "tags": ["x"]}`, ``)
	f.Add(uint8(3), uint8(0), "room", "ann", `nul`, `{"a":`, `1e999`)
	f.Add(uint8(0), uint8(4), "m/12", "", ``, ``, ``)
	f.Fuzz(func(t *testing.T, topic, action uint8, name, uid, userData, data, old string) {
		tp := syntax.Vocabulary[int(topic)%(len(syntax.Vocabulary)+1)%len(syntax.Vocabulary)]
		act := "bogus"
		if int(action) < len(tp.Actions) {
			act = tp.Actions[action].Name
		}
		req := &Request{
			Topic: tp.Name, Action: act, Name: name, Now: 1,
			User: &User{ID: uid, Authenticated: len(uid)%2 == 0, Data: []byte(userData)},
			Data: []byte(data), OldData: []byte(old),
		}
		d := r.Check(req, rr)
		checkDecision(t, req, d)
		_ = r.Needs(tp.Name, act, name)
		// The same request without a reader is only ever stricter.
		if d2 := r.Check(req, nil); d2.Allow && !d.Allow {
			t.Fatalf("allowed without a reader but denied with one: %s", d.Reason)
		}
	})
}

func checkDecision(t *testing.T, req *Request, d Decision) {
	t.Helper()
	if d.Allow {
		if d.Reason != "" {
			t.Fatalf("allow with reason %q", d.Reason)
		}
		return
	}
	prefix := req.Topic + " " + req.Action + " " + strconv.Quote(req.Name) + " denied"
	if !strings.HasPrefix(d.Reason, prefix) {
		t.Fatalf("reason %q does not start with %q", d.Reason, prefix)
	}
}

// FuzzParse loads random rule files: Parse must never panic, errors must
// carry positions, and loaded rules must answer checks without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fuzzRules))
	f.Add(DefaultSource())
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("record:\n  \"a/*\": { read: \"user.id ==\" }\n"))
	f.Add([]byte("record:\n  a: |\n    data.x\n"))
	f.Add([]byte("rpc: {'$a/$b': {request: \"_($a + $b).x == data.y\"}}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := Parse(src, "fuzz.yaml")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		names := []string{"", "a", "a/b", "a/b/c", "x/y/z/w"}
		if utf8.Valid(src) && len(src) < 64 {
			names = append(names, string(src))
		}
		for _, tp := range syntax.Vocabulary {
			for _, a := range tp.Actions {
				for _, name := range names {
					req := &Request{Topic: tp.Name, Action: a.Name, Name: name, User: &User{ID: "a"},
						Data: []byte(`{"x": 1}`), OldData: []byte(`{"x": 0}`)}
					checkDecision(t, req, r.Check(req, fuzzReader{}))
				}
			}
		}
	})
}
