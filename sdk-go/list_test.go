package eddy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestDiffEntries(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		want     string // removed | added | moved, each "entry@index" comma separated
	}{
		{"", "a b", "|a@0,b@1|"},
		{"a b", "", "a@0,b@1||"},
		{"a b c", "a b c", "||"},
		{"a b c", "b c", "a@0||"},               // shifting is not moving
		{"a b c", "x a b c", "|x@0|"},           // nor is it when adding in front
		{"a b c", "c a b", "||c@0"},             // one entry moved, not two
		{"a b c d", "d c b a", "||c@1,b@2,a@3"}, // reversal: all but one moved
		{"a a b", "a b", "a@1||"},               // duplicates: the n-th matches the n-th
		{"a b", "b a a", "|a@2|a@1"},            // a tie: either may be the one moved
		{"a b c", "a x c", "b@1|x@1|"},
	} {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Fields(s)
		}
		removed, added, moved := diffEntries(split(tc.old), split(tc.new))
		got := joinEntries(removed) + "|" + joinEntries(added) + "|" + joinEntries(moved)
		if got != tc.want {
			t.Errorf("diff(%q, %q) = %q, want %q", tc.old, tc.new, got, tc.want)
		}
	}
}

func joinEntries(es []entryAt) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("%s@%d", e.entry, e.index)
	}
	return strings.Join(parts, ",")
}

// TestDiffEntriesRandom checks the diff against its definition on random
// lists: removed and added are the multiset differences at the reported
// indexes, and the kept entries not reported moved keep their order.
func TestDiffEntriesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	list := func() []string {
		out := make([]string, rng.IntN(8))
		for i := range out {
			out[i] = string(rune('a' + rng.IntN(5)))
		}
		return out
	}
	for range 5000 {
		old, new := list(), list()
		removed, added, moved := diffEntries(old, new)
		// Replaying removals (from the back) and additions (from the front)
		// on old gives new up to order.
		rest := slices.Clone(old)
		for i := len(removed) - 1; i >= 0; i-- {
			e := removed[i]
			if rest[e.index] != e.entry {
				t.Fatalf("%v -> %v: removed %v not at its index", old, new, e)
			}
			rest = slices.Delete(rest, e.index, e.index+1)
		}
		kept := slices.Clone(new)
		for i := len(added) - 1; i >= 0; i-- {
			e := added[i]
			if new[e.index] != e.entry {
				t.Fatalf("%v -> %v: added %v not at its index", old, new, e)
			}
			kept = slices.Delete(kept, e.index, e.index+1)
		}
		a, b := slices.Clone(rest), slices.Clone(kept)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Fatalf("%v -> %v: kept %v vs %v", old, new, rest, kept)
		}
		// Without the moved entries, the kept ones are in the same order.
		movedAt := map[int]bool{}
		for _, e := range moved {
			if new[e.index] != e.entry {
				t.Fatalf("%v -> %v: moved %v not at its index", old, new, e)
			}
			movedAt[e.index] = true
		}
		var still []string
		for j, e := range new {
			isAdded := slices.ContainsFunc(added, func(x entryAt) bool { return x.index == j })
			if !isAdded && !movedAt[j] {
				still = append(still, e)
			}
		}
		if !entriesSubsequence(still, rest) {
			t.Fatalf("%v -> %v: unmoved %v out of order in %v", old, new, still, rest)
		}
	}
}

func entriesSubsequence(sub, seq []string) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}
