package subset

import (
	"math/rand/v2"
	"testing"
)

// members reads a set through its View.
func members(st *Set[int]) map[int]int {
	got := map[int]int{}
	v := st.View()
	for i := 0; i < v.Len(); i++ {
		if s, ok := v.At(i); ok {
			got[s]++
		}
	}
	return got
}

// A set follows a model through random adds and removes across the
// small and large forms: each member seen once, nothing else.
func TestSetMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	st := Empty[int]()
	model := map[int]bool{}
	for step := 0; step < 200000; step++ {
		x := r.IntN(300)
		if step%40000 > 20000 { // phases that drain the set
			x = r.IntN(20)
		}
		if r.IntN(2) == 0 {
			if got := st.Add(x); got == model[x] {
				t.Fatalf("step %d: Add(%d) = %v with member %v", step, x, got, model[x])
			}
			model[x] = true
		} else {
			if got := st.Remove(x); got != model[x] {
				t.Fatalf("step %d: Remove(%d) = %v with member %v", step, x, got, model[x])
			}
			delete(model, x)
		}
		if st.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, st.Len(), len(model))
		}
		if step%997 == 0 {
			got := members(st)
			if len(got) != len(model) {
				t.Fatalf("step %d: view holds %d, want %d", step, len(got), len(model))
			}
			for s, n := range got {
				if n != 1 || !model[s] {
					t.Fatalf("step %d: %d seen %d times, member %v", step, s, n, model[s])
				}
			}
		}
	}
}
