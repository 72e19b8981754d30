package valve

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/eddy-realtime/eddy/valve/syntax"
)

func compilePattern(t testing.TB, s string) matcher {
	t.Helper()
	p, err := syntax.ParsePattern(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return newMatcher(p)
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
		caps          []string
	}{
		{"*", "", true, nil},
		{"*", "a/b/c", true, nil},
		{"a", "a", true, nil},
		{"a", "ab", false, nil},
		{"a", "", false, nil},
		{"a/*", "a/", true, nil},
		{"a/*", "a", false, nil},
		{"a/*", "a/b/c", true, nil},
		{"*/c", "a/b/c", true, nil},
		{"*c", "abc", true, nil},
		{"*b*", "abc", true, nil},
		{"*b*", "ac", false, nil},
		{"a*a*a", "aaa", true, nil},
		{"a*a*a", "aa", false, nil},
		{"$x", "abc", true, []string{"abc"}},
		{"$x", "", false, nil},
		{"$x", "a/b", false, nil},
		{"$x/$y", "a/b", true, []string{"a", "b"}},
		{"$x/$y", "a/", false, nil},
		{"$x/$y", "/b", false, nil},
		{"u/$id/p/*", "u/ann/p/x/y", true, []string{"ann"}},
		{"u/$id/p/*", "u/ann/q/x", false, nil},
		{"*/$id", "a/b/c", true, []string{"c"}},
		{"*/$id/x", "a/b/x/c/x", true, []string{"c"}},
		{"auction/item/$sellerId/$itemId", "auction/item/s/i", true, []string{"s", "i"}},
		{"auction/item/$sellerId/$itemId", "auction/item/s/i/j", false, nil},
		{"a/**/b", "a//b", true, nil},
	}
	for _, c := range cases {
		m := compilePattern(t, c.pattern)
		var caps captures
		if got := m.match(c.name, &caps); got != c.want {
			t.Errorf("%q ~ %q: got %v", c.pattern, c.name, got)
			continue
		}
		for i, want := range c.caps {
			if caps[i] != want {
				t.Errorf("%q ~ %q: capture %d = %q, want %q", c.pattern, c.name, i, caps[i], want)
			}
		}
	}
}

// toRegexp is the reference semantics: * is a lazy .*?, $x is ([^/]+), the
// rest is literal, anchored at both ends. Laziness matters only for which
// captures a pattern with several stars reports: each star takes as little
// as it can, the leftmost first.
func toRegexp(p syntax.Pattern) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	for _, part := range p.Parts {
		switch part.Kind {
		case syntax.Literal:
			b.WriteString(regexp.QuoteMeta(part.Text))
		case syntax.Star:
			b.WriteString(`(?s:.*?)`)
		case syntax.Capture:
			b.WriteString(`([^/]+)`)
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// TestMatchAgainstRegexp compares the matcher with the regexp reference on
// random patterns and names over a small alphabet, captures included.
func TestMatchAgainstRegexp(t *testing.T) {
	for seed := int64(1); seed <= seeds; seed++ {
		matchAgainstRegexp(t, seed)
	}
}

func matchAgainstRegexp(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	pieces := []string{"a", "b", "/", "*", "ab", "/$v", "$v/"}
	alphabet := "ab/"
	n := 0
	for n < 3000*scale {
		var ps strings.Builder
		vars := 0
		for k := rng.Intn(6) + 1; k > 0; k-- {
			piece := pieces[rng.Intn(len(pieces))]
			if strings.Contains(piece, "$v") {
				piece = strings.Replace(piece, "$v", "$v"+string(rune('a'+vars)), 1)
				vars++
			}
			ps.WriteString(piece)
		}
		p, err := syntax.ParsePattern(ps.String())
		if err != nil {
			continue // e.g. a capture not filling a segment
		}
		n++
		m := newMatcher(p)
		re := toRegexp(p)
		for j := 0; j < 20; j++ {
			name := make([]byte, rng.Intn(9))
			for i := range name {
				name[i] = alphabet[rng.Intn(len(alphabet))]
			}
			var caps captures
			got := m.match(string(name), &caps)
			sub := re.FindStringSubmatch(string(name))
			if got != (sub != nil) {
				t.Fatalf("%q ~ %q: matcher %v, regexp %v", p.Text, name, got, sub != nil)
			}
			if !got {
				continue
			}
			// Both must agree on the captures too.
			for i := 1; i < len(sub); i++ {
				if caps[i-1] != sub[i] {
					t.Fatalf("%q ~ %q: capture %d = %q, regexp %q", p.Text, name, i-1, caps[i-1], sub[i])
				}
			}
		}
	}
}

func TestMatchLongNameIsLinear(t *testing.T) {
	m := compilePattern(t, "*a*a*a*a*a*a*a*b")
	name := strings.Repeat("a", 20000)
	var caps captures
	if m.match(name, &caps) {
		t.Fatal("matched")
	}
}

func TestMatchAllocs(t *testing.T) {
	m := compilePattern(t, "users/$uid/*/$x")
	var caps captures
	n := testing.AllocsPerRun(100, func() {
		if !m.match("users/ann/a/b/c", &caps) {
			t.Fatal("no match")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs per match", n)
	}
}

// seeds and scale size TestMatchAgainstRegexp; raise them to search harder.
const seeds, scale = 3, 1
