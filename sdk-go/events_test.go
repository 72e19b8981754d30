package eddy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func TestSubscribeEmitUnsubscribe(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks(t)
			s := startFake(t)
			a := dial(t, tr.addr(s))
			b := dial(t, tr.addr(s))
			in := newInbox()
			sub, err := a.Event.Subscribe("news/sport", in.fn)
			if err != nil {
				t.Fatal(err)
			}
			if got := sub.Names(); !slices.Equal(got, []string{"news/sport"}) {
				t.Fatalf("names %v", got)
			}
			sm := s.expect(t, "subscribe", on(1, is(fb.TopicEvent, fb.ActionSubscribe)))
			if sm.m.Name != "news/sport" || sm.m.ID == 0 || len(sm.m.Names) != 0 {
				t.Fatalf("subscribe %+v", sm.m)
			}
			if err := b.Event.Emit("news/sport", []byte(`{"score":[2,1]}`)); err != nil {
				t.Fatal(err)
			}
			if got := in.next(t); got != `{"score":[2,1]}` {
				t.Fatalf("got %q", got)
			}
			if err := b.Event.EmitJSON("news/sport", map[string]int{"n": 3}); err != nil {
				t.Fatal(err)
			}
			if got := in.next(t); got != `{"n":3}` {
				t.Fatalf("got %q", got)
			}
			if err := sub.Unsubscribe(); err != nil {
				t.Fatal(err)
			}
			um := s.expect(t, "unsubscribe", on(1, is(fb.TopicEvent, fb.ActionUnsubscribe)))
			if um.m.Name != "news/sport" || um.m.ID == 0 {
				t.Fatalf("unsubscribe %+v", um.m)
			}
			if err := sub.Unsubscribe(); err != nil {
				t.Fatal("second Unsubscribe:", err)
			}
			if err := b.Event.Emit("news/sport", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
			in.quiet(t)
			if n := len(s.matching(is(fb.TopicEvent, fb.ActionUnsubscribe))); n != 1 {
				t.Fatalf("%d Unsubscribe messages", n)
			}
		})
	}
}

func TestLocalDelivery(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	a := dial(t, s.TCP)
	b := dial(t, s.TCP)
	mine, theirs := newInbox(), newInbox()
	if _, err := a.Event.Subscribe("chat", mine.fn); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Event.Subscribe("chat", theirs.fn); err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		if err := a.Event.Emit("chat", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n { // exactly once each, in order, on both sides
		if got := mine.next(t); got != strconv.Itoa(i) {
			t.Fatalf("own subscriber got %q, want %d", got, i)
		}
		if got := theirs.next(t); got != strconv.Itoa(i) {
			t.Fatalf("other subscriber got %q, want %d", got, i)
		}
	}
	mine.quiet(t)
	// Emitting to a name with no local subscriber delivers nothing locally.
	if err := a.Event.Emit("elsewhere", nil); err != nil {
		t.Fatal(err)
	}
	mine.quiet(t)
	theirs.quiet(t)
}

func TestSharedServerSubscription(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	a := dial(t, s.TCP)
	b := dial(t, s.TCP)
	in1, in2 := newInbox(), newInbox()
	sub1, err := a.Event.Subscribe("x", in1.fn)
	if err != nil {
		t.Fatal(err)
	}
	sub2, err := a.Event.Subscribe("x", in2.fn)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.matching(is(fb.TopicEvent, fb.ActionSubscribe))); n != 1 {
		t.Fatalf("%d Subscribe messages for one name", n)
	}
	_ = b.Event.Emit("x", []byte("1"))
	if in1.next(t) != "1" || in2.next(t) != "1" {
		t.Fatal("both local subscribers must get the event")
	}
	if err := sub1.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(s.matching(is(fb.TopicEvent, fb.ActionUnsubscribe))); n != 0 {
		t.Fatal("Unsubscribe sent while another local subscriber remains")
	}
	_ = b.Event.Emit("x", []byte("2"))
	if in2.next(t) != "2" {
		t.Fatal("remaining subscriber lost its event")
	}
	in1.quiet(t)
	if err := sub2.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "unsubscribe", is(fb.TopicEvent, fb.ActionUnsubscribe))
}

func TestSubscribeMany(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	a := dial(t, s.TCP)
	b := dial(t, s.TCP)
	in := newInbox()
	sub, err := a.Event.SubscribeMany(context.Background(), []string{"a", "b", "a", "c"}, in.named)
	if err != nil {
		t.Fatal(err)
	}
	subs := s.matching(on(1, is(fb.TopicEvent, fb.ActionSubscribe)))
	if len(subs) != 1 || !slices.Equal(subs[0].m.Names, []string{"a", "b", "c"}) || subs[0].m.Name != "" {
		t.Fatalf("subscribe messages %+v", subs)
	}
	if got := sub.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("names %v", got)
	}
	for _, n := range []string{"c", "a", "b"} {
		_ = b.Event.Emit(n, []byte(`0`))
		if got := in.next(t); got != n+"=0" {
			t.Fatalf("got %q", got)
		}
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	uns := s.expect(t, "unsubscribe", is(fb.TopicEvent, fb.ActionUnsubscribe))
	if !slices.Equal(uns.m.Names, []string{"a", "b", "c"}) {
		t.Fatalf("unsubscribe %+v", uns.m)
	}
	if n := len(s.matching(is(fb.TopicEvent, fb.ActionUnsubscribe))); n != 1 {
		t.Fatalf("%d Unsubscribe messages, want one", n)
	}
}

// The Subscribe returns only once the Ack is in.
func TestSubscribeWaitsForAck(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	release := make(chan struct{})
	s.set(func(s *fakeServer) {
		s.mu.deny = func(a fb.Action, name string) protocol.Code {
			if a == fb.ActionSubscribe && name == "slow" {
				<-release
			}
			return 0
		}
	})
	a := dial(t, s.TCP)
	done := make(chan error, 1)
	go func() {
		_, err := a.Event.SubscribeMany(context.Background(), []string{"x", "slow"}, func(string, []byte) {})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("returned before the Ack: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A context ending first cancels.
	block := make(chan struct{})
	defer close(block)
	s.set(func(s *fakeServer) {
		s.mu.deny = func(a fb.Action, name string) protocol.Code {
			if name == "stuck" {
				<-block
			}
			return 0
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := a.Event.SubscribeCtx(ctx, "stuck", func([]byte) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestSubscribeRefused(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	s.set(func(s *fakeServer) {
		s.mu.deny = func(a fb.Action, name string) protocol.Code {
			if name == "secret" {
				return protocol.CodePermissionDenied
			}
			return 0
		}
	})
	a := dial(t, s.TCP)
	b := dial(t, s.TCP)
	_, err := a.Event.Subscribe("secret", func([]byte) {})
	var e *Error
	if !errors.Is(err, ErrPermissionDenied) || !errors.As(err, &e) || e.Name != "secret" || e.Op != "subscribe" ||
		e.Code != protocol.CodePermissionDenied {
		t.Fatalf("err = %v", err)
	}

	// All or nothing: "a" was subscribed on the server before "secret" was
	// refused, so it is unsubscribed again; "z" after it never was.
	in := newInbox()
	_, err = a.Event.SubscribeMany(context.Background(), []string{"a", "secret", "z"}, in.named)
	if !errors.Is(err, ErrPermissionDenied) || !errors.As(err, &e) || e.Name != "secret" {
		t.Fatalf("err = %v", err)
	}
	uns := s.expect(t, "rollback", on(1, is(fb.TopicEvent, fb.ActionUnsubscribe)))
	if uns.m.Name != "a" {
		t.Fatalf("rollback unsubscribed %q %v, want a", uns.m.Name, uns.m.Names)
	}
	_ = b.Event.Emit("a", []byte("1"))
	in.quiet(t)
	a.Event.mu.RLock()
	left := len(a.Event.names)
	a.Event.mu.RUnlock()
	if left != 0 {
		t.Fatalf("%d names left in the local table", left)
	}
	// A later subscription to the same names works.
	if _, err := a.Event.SubscribeMany(context.Background(), []string{"a", "z"}, in.named); err != nil {
		t.Fatal(err)
	}
	_ = b.Event.Emit("z", []byte("2"))
	if got := in.next(t); got != "z=2" {
		t.Fatalf("got %q", got)
	}
}

func TestEmitRefused(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	s.set(func(s *fakeServer) {
		s.mu.deny = func(a fb.Action, name string) protocol.Code {
			if a == fb.ActionEmit && name == "ro" {
				return protocol.CodePermissionDenied
			}
			return 0
		}
	})
	errs := make(chan error, 8)
	a := dial(t, s.TCP, WithErrorHandler(func(err error) { errs <- err }))
	if err := a.Event.Emit("ro", []byte("1")); err != nil {
		t.Fatal(err) // fire and forget: the refusal comes later
	}
	select {
	case err := <-errs:
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrPermissionDenied) || e.Name != "ro" {
			t.Fatalf("error handler got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("refusal never reached the error handler")
	}
	err := a.Event.EmitAck(context.Background(), "ro", []byte("1"))
	if !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("EmitAck: %v", err)
	}
	if err := a.Event.EmitAck(context.Background(), "rw", []byte("1")); err != nil {
		t.Fatalf("EmitAck allowed: %v", err)
	}
	if err := a.Event.EmitAck(context.Background(), "rw", []byte("{bad")); !errors.Is(err, ErrInvalidData) {
		t.Fatalf("EmitAck bad JSON: %v", err)
	}
	select {
	case err := <-errs:
		t.Fatalf("an awaited error also reached the handler: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
}

func TestInvalidNamesAndSizes(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	a := dial(t, s.TCP, WithMaxFrame(1024))
	if err := a.Event.Emit("", nil); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("empty name: %v", err)
	}
	if _, err := a.Event.Subscribe("bad\xff", func([]byte) {}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, err := a.Event.SubscribeMany(context.Background(), nil, func(string, []byte) {}); err == nil {
		t.Fatal("no names accepted")
	}
	if _, err := a.Event.Subscribe("x", nil); err == nil {
		t.Fatal("nil callback accepted")
	}
	if err := a.Event.Emit("big", jsonOfSize(2000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized emit: %v", err)
	}
	if err := a.Event.EmitJSON("x", func() {}); err == nil {
		t.Fatal("unmarshalable value emitted")
	}
	// The connection is unharmed.
	if err := a.Event.EmitAck(context.Background(), "ok", []byte("1")); err != nil {
		t.Fatal(err)
	}
}

func TestUnsubscribeInsideCallbackStopsDelivery(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	a := dial(t, s.TCP)
	var (
		mu    sync.Mutex
		calls int
		sub   *Subscription
	)
	ready := make(chan struct{})
	sub, err := a.Event.Subscribe("t", func([]byte) {
		<-ready
		mu.Lock()
		calls++
		mu.Unlock()
		_ = sub.Unsubscribe()
	})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	for i := range 10 {
		_ = a.Event.Emit("t", []byte(fmt.Sprint(i)))
	}
	s.expect(t, "unsubscribe", is(fb.TopicEvent, fb.ActionUnsubscribe))
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("callback ran %d times after unsubscribing in the first", calls)
	}
}

// A slow callback neither stalls the socket reader (pongs keep flowing) nor
// grows memory without bound (events beyond the limit are dropped and
// reported).
func TestSlowConsumer(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	errs := make(chan error, 16)
	a := dial(t, s.TCP, WithAuth(map[string]string{"username": "slow"}), WithPendingLimit(4096),
		WithErrorHandler(func(err error) { errs <- err }))
	b := dial(t, s.TCP)
	unblock := make(chan struct{})
	resumed := make(chan struct{})
	var delivered atomic.Int32
	if _, err := a.Event.Subscribe("flood", func(data []byte) {
		<-unblock
		delivered.Add(1)
		if string(data) == "2" {
			close(resumed)
		}
	}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100)
	for i := range data {
		data[i] = '1'
	}
	for range 199 {
		if err := b.Event.Emit("flood", data); err != nil {
			t.Fatal(err)
		}
	}
	// The server acknowledges the last one after fanning all of them out,
	// and a's own acknowledged emit after that: once it returns, a's reader
	// has read every event, although the callback is stuck.
	if err := b.Event.EmitAck(context.Background(), "flood", data); err != nil {
		t.Fatal(err)
	}
	if err := a.Event.EmitAck(context.Background(), "elsewhere", nil); err != nil {
		t.Fatal(err)
	}
	// The reader answers pings too.
	_ = s.connOf(t, "slow").Send(pingMsg(99))
	s.expect(t, "pong while a callback blocks", func(r record) bool {
		return r.conn.user == "slow" && r.m.Action == fb.ActionPong && r.m.ID == 99
	})
	// The report waits its turn on the callback goroutine.
	close(unblock)
	select {
	case err := <-errs:
		if !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ErrSlowConsumer")
	}
	if n := delivered.Load(); n >= 200 || n == 0 {
		t.Fatalf("%d of 200 events delivered past a 4 KiB limit", n)
	}
	// Once drained, delivery resumes.
	if err := b.Event.Emit("flood", []byte("2")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resumed:
	case <-time.After(5 * time.Second):
		a.disp.mu.Lock()
		defer a.disp.mu.Unlock()
		t.Fatalf("delivery did not resume: dispatcher holds %d items, %d bytes, dropping %v; %d delivered",
			len(a.disp.mu.items), len(a.disp.mu.arena), a.disp.mu.dropping, delivered.Load())
	}
}
