package track

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func TestResolveRunsOnceAndCopies(t *testing.T) {
	var tr Tracker
	w, fn := NewWaiter()
	id := tr.Add("c1", fn)
	if id == 0 {
		t.Fatal("zero id")
	}
	buf := msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionError, ID: id, Code: 30,
		Name: "a", Reason: "no", Data: []byte(`{}`), Names: []string{"x", "y"}})
	var v msg.View
	if err := v.Reset(buf); err != nil {
		t.Fatal(err)
	}
	if !tr.Resolve(id, &v) {
		t.Fatal("not resolved")
	}
	for i := range buf { // the reply must not alias the read buffer
		buf[i] = 0
	}
	r, err := w.Wait(context.Background())
	if err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}
	if r.Code != 30 || r.Name != "a" || r.Reason != "no" || string(r.Data) != "{}" || len(r.Names) != 2 || r.Names[1] != "y" ||
		r.Action != fb.ActionError || r.Topic != fb.TopicEvent {
		t.Fatalf("reply %+v", r)
	}
	if tr.Resolve(id, &v) {
		t.Fatal("resolved twice")
	}
	if tr.Len() != 0 {
		t.Fatal("entry left behind")
	}
}

func TestFailByOwnerAndCancel(t *testing.T) {
	var tr Tracker
	lost := errors.New("lost")
	var mu sync.Mutex
	got := map[string]error{}
	add := func(owner, label string) uint64 {
		return tr.Add(owner, func(_ *msg.View, err error) { mu.Lock(); got[label] = err; mu.Unlock() })
	}
	add("c1", "a")
	add("c1", "b")
	add("c2", "c")
	d := add("c2", "d")
	if !tr.Cancel(d) || tr.Cancel(d) {
		t.Fatal("cancel")
	}
	if n := tr.Fail("c1", lost); n != 2 {
		t.Fatalf("failed %d, want 2", n)
	}
	if got["a"] != lost || got["b"] != lost || len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	if n := tr.Fail(nil, lost); n != 1 || got["c"] != lost {
		t.Fatalf("fail all: %d %v", n, got)
	}
	if _, ok := got["d"]; ok {
		t.Fatal("cancelled entry ran")
	}
	if id := add("c3", "e"); id != d+1 {
		t.Fatalf("id reused or skipped: %d after %d", id, d)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	w, _ := NewWaiter()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := w.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	var tr Tracker
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				w, fn := NewWaiter()
				id := tr.Add(g, fn)
				var v msg.View
				if err := v.Reset(msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionAck, ID: id})); err != nil {
					t.Error(err)
					return
				}
				if !tr.Resolve(id, &v) {
					t.Error("lost entry")
					return
				}
				if r, _ := w.Wait(context.Background()); r.Action != fb.ActionAck {
					t.Error("wrong reply")
					return
				}
			}
		}()
	}
	wg.Wait()
	if tr.Len() != 0 {
		t.Fatal("leftovers")
	}
}
