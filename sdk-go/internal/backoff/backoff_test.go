package backoff

import (
	"testing"
	"time"
)

func TestBoundsAndGrowth(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 80, 160, 200, 200, 200}
	for i, w := range want {
		w *= time.Millisecond
		for range 50 {
			b.attempt = i
			d := b.Next()
			if d < w/2 || d > w {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, w/2, w)
			}
		}
	}
	b.Reset()
	if b.Attempt() != 0 {
		t.Fatal("Reset did not restart")
	}
	if d := b.Next(); d > 10*time.Millisecond {
		t.Fatalf("after Reset: %v", d)
	}
	if b.Attempt() != 1 {
		t.Fatalf("Attempt = %d, want 1", b.Attempt())
	}
}

func TestJitterSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 100 {
		b := Backoff{Min: time.Second, Max: time.Second}
		seen[b.Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 100 draws", len(seen))
	}
}

func TestDegenerateBounds(t *testing.T) {
	b := Backoff{}
	for range 40 { // no overflow however many attempts
		if d := b.Next(); d <= 0 || d > time.Millisecond {
			t.Fatalf("zero bounds gave %v", d)
		}
	}
	b = Backoff{Min: time.Second, Max: time.Millisecond}
	if d := b.Next(); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("Max < Min gave %v", d)
	}
}
