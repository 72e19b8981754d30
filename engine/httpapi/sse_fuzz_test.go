package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSSEQuery feeds arbitrary query strings to the stream name parser:
// it never panics, and what it accepts is a non-empty list of distinct,
// valid names within the limits.
func FuzzSSEQuery(f *testing.F) {
	for _, s := range []string{"events=a,b&records=x,y", "event=a&record=a", "events=,", "records=%ff", "events=" + strings.Repeat("n,", 200), "", "event=" + strings.Repeat("x", 600), "a=b&&events=%zz"} {
		f.Add(s)
	}
	a := New(Config{MaxNameLength: 64})
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{URL: &url.URL{Path: "/sse", RawQuery: raw}}
		keys, problem := a.streamNames(r)
		if problem != "" {
			if keys != nil {
				t.Fatalf("%q: refused (%s) with keys %v", raw, problem, keys)
			}
			return
		}
		if len(keys) == 0 || len(keys) > a.opts.SSEMaxNames {
			t.Fatalf("%q: %d keys accepted", raw, len(keys))
		}
		seen := map[chanKey]bool{}
		for _, k := range keys {
			if k.name == "" || len(k.name) > 64 || !utf8.ValidString(k.name) || seen[k] {
				t.Fatalf("%q: accepted key %+v", raw, k)
			}
			seen[k] = true
		}
	})
}

// FuzzLastEventID feeds arbitrary Last-Event-ID values to the resume
// parser: an id is valid only if it is this run's epoch and a change
// number, and every id the hub gives out parses back to its number.
func FuzzLastEventID(f *testing.F) {
	h := newHub(&Config{})
	for _, s := range []string{"", h.id(0), h.id(42), h.epoch + "-", "x-1", h.epoch + "-18446744073709551616", h.epoch + "--1", h.epoch + "-+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := h.parseID(s)
		if p.given != (s != "") {
			t.Fatalf("%q: given %v", s, p.given)
		}
		if p.valid {
			n, ok := strings.CutPrefix(s, h.epoch+"-")
			if !ok {
				t.Fatalf("%q: valid without this run's epoch", s)
			}
			if seq, err := strconv.ParseUint(n, 10, 64); err != nil || seq != p.seq {
				t.Fatalf("%q: valid with seq %d", s, p.seq)
			}
			if q := h.parseID(h.id(p.seq)); !q.valid || q.seq != p.seq {
				t.Fatalf("id %d does not parse back: %+v", p.seq, q)
			}
		}
	})
}
