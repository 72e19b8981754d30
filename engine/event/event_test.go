package event

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

type sink struct {
	mu  sync.Mutex
	got []string
}

func (s *sink) Deliver(p []byte) {
	s.mu.Lock()
	s.got = append(s.got, string(p))
	s.mu.Unlock()
}

func TestSubscribePublishUnsubscribe(t *testing.T) {
	tb := New()
	a, b := &sink{}, &sink{}
	if added, first := tb.Subscribe("news", a); !added || !first {
		t.Fatalf("first subscribe: added=%v first=%v", added, first)
	}
	if added, first := tb.Subscribe("news", b); !added || first {
		t.Fatalf("second subscribe: added=%v first=%v", added, first)
	}
	if added, _ := tb.Subscribe("news", a); added {
		t.Fatal("duplicate subscribe added")
	}
	if n := tb.Publish([]byte("news"), []byte("x"), a); n != 1 {
		t.Fatalf("publish excluding a delivered %d", n)
	}
	if len(a.got) != 0 || len(b.got) != 1 || b.got[0] != "x" {
		t.Fatalf("a=%v b=%v", a.got, b.got)
	}
	if removed, last := tb.Unsubscribe("news", a); !removed || last {
		t.Fatalf("unsubscribe a: removed=%v last=%v", removed, last)
	}
	if removed, _ := tb.Unsubscribe("news", a); removed {
		t.Fatal("unsubscribe twice removed")
	}
	if removed, last := tb.Unsubscribe("news", b); !removed || !last {
		t.Fatalf("unsubscribe b: removed=%v last=%v", removed, last)
	}
	if tb.Len() != 0 {
		t.Fatalf("table not empty: %d names", tb.Len())
	}
	if n := tb.Publish([]byte("news"), []byte("y"), nil); n != 0 {
		t.Fatalf("publish to no one delivered %d", n)
	}
}

// TestNoLeakAfterManyCycles subscribes and removes 100k subscribers over
// many names and checks nothing stays behind.
func TestNoLeakAfterManyCycles(t *testing.T) {
	tb := New()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25000; i++ {
				s := &sink{}
				names := []string{fmt.Sprintf("n/%d", i%97), fmt.Sprintf("w/%d/%d", w, i%13)}
				for _, n := range names {
					tb.Subscribe(n, s)
				}
				tb.Publish([]byte(names[0]), []byte("p"), nil)
				for _, n := range names {
					if removed, _ := tb.Unsubscribe(n, s); !removed {
						t.Errorf("subscriber missing from %s", n)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	if tb.Len() != 0 {
		t.Fatalf("%d names left after all subscribers left", tb.Len())
	}
}

type tally struct{ n atomic.Int64 }

func (c *tally) Deliver([]byte) { c.n.Add(1) }

// Publishing while many subscribers come and go on the same name: every
// subscriber that stays gets every event exactly once, through growth and
// compaction of the name's set.
func TestPublishDuringChurn(t *testing.T) {
	tb := New()
	stay := make([]*tally, 50)
	for i := range stay {
		stay[i] = &tally{}
		tb.Subscribe("lobby", stay[i])
	}
	const events = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		churn := make([]*tally, 500)
		for i := range churn {
			churn[i] = &tally{}
		}
		for round := 0; round < 20; round++ {
			for _, c := range churn {
				tb.Subscribe("lobby", c)
			}
			for _, c := range churn {
				tb.Unsubscribe("lobby", c)
			}
		}
	}()
	for i := 0; i < events; i++ {
		tb.Publish([]byte("lobby"), []byte("x"), nil)
	}
	<-done
	for i, s := range stay {
		if got := s.n.Load(); got != events {
			t.Fatalf("subscriber %d got %d of %d", i, got, events)
		}
	}
	if n := tb.Count("lobby"); n != len(stay) {
		t.Fatalf("count %d", n)
	}
	for _, s := range stay {
		tb.Unsubscribe("lobby", s)
	}
	if tb.Len() != 0 {
		t.Fatal("name left behind")
	}
}
