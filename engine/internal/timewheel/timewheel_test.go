package timewheel

import (
	"math/rand/v2"
	"testing"
	"time"
)

var epoch = time.Unix(1_700_000_000, 0)

func newWheel(slots int) *Wheel[int] {
	w := &Wheel[int]{}
	w.Init(10*time.Millisecond, slots, epoch)
	return w
}

func TestFiresNotBeforeDeadlineAndWithinOneTick(t *testing.T) {
	w := newWheel(8)
	timers := make([]Timer[int], 50)
	deadlines := make([]time.Time, len(timers))
	for i := range timers {
		timers[i].Value = i
		deadlines[i] = epoch.Add(time.Duration(i*7+3) * time.Millisecond) // spans several revolutions
		w.Schedule(&timers[i], deadlines[i])
	}
	if w.Len() != len(timers) {
		t.Fatalf("len %d", w.Len())
	}
	fired := make([]time.Time, len(timers))
	for now := epoch; now.Before(epoch.Add(time.Second)); now = now.Add(time.Millisecond) {
		w.Advance(now, func(tm *Timer[int]) {
			if !fired[tm.Value].IsZero() {
				t.Fatalf("timer %d fired twice", tm.Value)
			}
			fired[tm.Value] = now
		})
	}
	for i, f := range fired {
		if f.IsZero() {
			t.Fatalf("timer %d never fired", i)
		}
		if f.Before(deadlines[i]) || f.Sub(deadlines[i]) > 10*time.Millisecond {
			t.Fatalf("timer %d due %v fired %v", i, deadlines[i].Sub(epoch), f.Sub(epoch))
		}
	}
	if w.Len() != 0 {
		t.Fatalf("len %d after all fired", w.Len())
	}
}

func TestStopAndReschedule(t *testing.T) {
	w := newWheel(4)
	var a, b Timer[int]
	a.Value, b.Value = 1, 2
	w.Schedule(&a, epoch.Add(20*time.Millisecond))
	w.Schedule(&b, epoch.Add(20*time.Millisecond))
	if !w.Stop(&a) || w.Stop(&a) || a.Scheduled() {
		t.Fatal("stop should succeed once")
	}
	w.Schedule(&b, epoch.Add(500*time.Millisecond)) // moved, not duplicated
	if w.Len() != 1 {
		t.Fatalf("len %d", w.Len())
	}
	var got []int
	w.Advance(epoch.Add(100*time.Millisecond), func(tm *Timer[int]) { got = append(got, tm.Value) })
	if len(got) != 0 {
		t.Fatalf("fired early: %v", got)
	}
	w.Advance(epoch.Add(500*time.Millisecond), func(tm *Timer[int]) { got = append(got, tm.Value) })
	if len(got) != 1 || got[0] != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestFireMayRescheduleAndStopOthers(t *testing.T) {
	w := newWheel(4)
	ts := make([]Timer[int], 3)
	for i := range ts {
		ts[i].Value = i
		w.Schedule(&ts[i], epoch.Add(10*time.Millisecond))
	}
	var got []int
	again := true
	fire := func(tm *Timer[int]) {
		got = append(got, tm.Value)
		if tm.Value == 0 {
			w.Stop(&ts[1]) // a sibling in the slot being expired
			if again {
				again = false
				w.Schedule(tm, epoch) // overdue: next Advance
			}
		}
	}
	w.Advance(epoch.Add(10*time.Millisecond), fire)
	if len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("first advance fired %v", got)
	}
	w.Advance(epoch.Add(20*time.Millisecond), fire)
	if len(got) != 3 || got[2] != 0 || w.Len() != 0 {
		t.Fatalf("second advance fired %v len %d", got, w.Len())
	}
}

// TestRandomAgainstModel drives the wheel and a map of deadlines with the
// same random operations and checks they agree on what fired.
func TestRandomAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := newWheel(16)
	ts := make([]Timer[int], 200)
	model := map[int]time.Time{}
	now := epoch
	for i := range ts {
		ts[i].Value = i
	}
	for step := 0; step < 20000; step++ {
		i := rng.IntN(len(ts))
		switch rng.IntN(4) {
		case 0, 1:
			d := now.Add(time.Duration(rng.IntN(600)) * time.Millisecond)
			w.Schedule(&ts[i], d)
			model[i] = d
		case 2:
			_, want := model[i]
			if got := w.Stop(&ts[i]); got != want {
				t.Fatalf("step %d: stop %d = %v, model %v", step, i, got, want)
			}
			delete(model, i)
		case 3:
			now = now.Add(time.Duration(rng.IntN(40)) * time.Millisecond)
			w.Advance(now, func(tm *Timer[int]) {
				d, ok := model[tm.Value]
				if !ok {
					t.Fatalf("step %d: %d fired but was not scheduled", step, tm.Value)
				}
				if now.Before(d) {
					t.Fatalf("step %d: %d fired early", step, tm.Value)
				}
				delete(model, tm.Value)
			})
			for i, d := range model {
				if now.Sub(d) >= 10*time.Millisecond {
					t.Fatalf("step %d: %d overdue by %v", step, i, now.Sub(d))
				}
			}
		}
		if w.Len() != len(model) {
			t.Fatalf("step %d: len %d model %d", step, w.Len(), len(model))
		}
	}
}
