package valve

import (
	"strings"

	"github.com/eddy-realtime/eddy/valve/syntax"
)

// captures receives the values of a pattern's $variables. Check keeps it on
// its stack.
type captures = [syntax.MaxCaptures]string

type part struct {
	kind syntax.PartKind
	text string // literal text
	cap  int    // capture index
}

// matcher is a compiled pattern.
type matcher struct {
	parts []part
}

func newMatcher(p syntax.Pattern) matcher {
	m := matcher{parts: make([]part, len(p.Parts))}
	n := 0
	for i, pp := range p.Parts {
		m.parts[i] = part{kind: pp.Kind, text: pp.Text}
		if pp.Kind == syntax.Capture {
			m.parts[i].cap = n
			n++
		}
	}
	return m
}

// match reports whether name matches, writing capture values into caps. It
// does not allocate.
//
// It walks pattern and name together. At a '*' it remembers where the star
// began; on a mismatch it lets the most recent star swallow one more byte
// and retries the parts after it. Forgetting earlier stars is safe because
// the parts between two stars (literals and whole-segment captures) match at
// a given position in at most one way, so the earliest place they match is
// always the best one; the cost is O(len(name) * len(pattern)).
func (m *matcher) match(name string, caps *captures) bool {
	parts := m.parts
	pi, ni := 0, 0
	star, starNi := -1, 0
	for {
		if pi < len(parts) {
			p := &parts[pi]
			switch p.kind {
			case syntax.Star:
				star, starNi = pi, ni
				pi++
				continue
			case syntax.Literal:
				if strings.HasPrefix(name[ni:], p.text) {
					ni += len(p.text)
					pi++
					continue
				}
			case syntax.Capture:
				end := strings.IndexByte(name[ni:], '/')
				if end < 0 {
					end = len(name) - ni
				}
				if end > 0 {
					caps[p.cap] = name[ni : ni+end]
					ni += end
					pi++
					continue
				}
			}
		} else if ni == len(name) {
			return true
		}
		if star < 0 || starNi >= len(name) {
			return false
		}
		starNi++
		pi, ni = star+1, starNi
	}
}
