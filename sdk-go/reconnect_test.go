package eddy

import (
	"context"
	"errors"
	"fmt"
	"github.com/eddy-realtime/eddy/codec/msg"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func TestReconnectResubscribesInBulk(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks(t)
			s := startFake(t)
			st := newStates()
			errs := make(chan error, 16)
			a := dial(t, tr.addr(s), WithReconnect(5*time.Millisecond, 20*time.Millisecond),
				WithConnectionStateHandler(st.handler), WithErrorHandler(func(err error) { errs <- err }))
			b := dial(t, tr.addr(s))
			in := newInbox()
			if _, err := a.Event.SubscribeMany(context.Background(), []string{"c", "a"}, in.named); err != nil {
				t.Fatal(err)
			}
			gone, err := a.Event.Subscribe("gone", in.fn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Event.Subscribe("b", in.fn); err != nil {
				t.Fatal(err)
			}
			if err := gone.Unsubscribe(); err != nil {
				t.Fatal(err)
			}

			s.conn(t, 1).Drop()
			st.waitFor(t, Reconnecting)
			st.waitFor(t, Open)
			if got := st.list(); !slices.Equal(got, []ConnectionState{Connecting, Open, Reconnecting, Open}) {
				t.Fatalf("states %v", got)
			}
			select {
			case err := <-errs:
				if !errors.Is(err, ErrConnectionLost) {
					t.Fatalf("error handler got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the lost connection was not reported")
			}
			// The third connection is a's second one (b's is the second).
			s.expect(t, "re-login", on(3, is(fb.TopicAuth, fb.ActionLogin)))
			re := s.expect(t, "bulk resubscribe", on(3, is(fb.TopicEvent, fb.ActionSubscribe)))
			if !slices.Equal(re.m.Names, []string{"a", "b", "c"}) {
				t.Fatalf("resubscribed %q %v, want [a b c] in one message", re.m.Name, re.m.Names)
			}
			s.waitUntil(t, "ack of the resubscribe", func() bool { return len(s.mu.subs["c"]) == 2 || len(s.mu.subs["c"]) == 1 })
			time.Sleep(20 * time.Millisecond)
			if n := len(s.matching(on(3, is(fb.TopicEvent, fb.ActionSubscribe)))); n != 1 {
				t.Fatalf("%d Subscribe messages after reconnect", n)
			}
			if a.State() != Open {
				t.Fatalf("state %s", a.State())
			}
			for _, n := range []string{"a", "b", "c"} {
				if err := b.Event.Emit(n, []byte(`1`)); err != nil {
					t.Fatal(err)
				}
			}
			got := []string{in.next(t), in.next(t), in.next(t)}
			if !slices.Equal(got, []string{"a=1", "1", "c=1"}) {
				t.Fatalf("after reconnect got %v", got)
			}
		})
	}
}

func TestReconnectBacksOff(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	st := newStates()
	a := dial(t, s.TCP, WithReconnect(20*time.Millisecond, 40*time.Millisecond), WithConnectionStateHandler(st.handler))
	// Refuse every re-login with a temporary code: the client keeps trying
	// with growing delays.
	var attempts atomic.Int32
	var stamps [8]atomic.Int64
	s.set(func(s *fakeServer) {
		s.mu.login = func([]byte) (string, string, protocol.Code) {
			n := attempts.Add(1)
			if int(n) <= len(stamps) {
				stamps[n-1].Store(time.Now().UnixNano())
			}
			if n < 4 {
				return "", "", protocol.CodeAuthUnavailable
			}
			return "ann", "", 0
		}
	})
	dropped := time.Now()
	s.conn(t, 1).Drop()
	st.waitFor(t, Reconnecting)
	st.waitFor(t, Open)
	if n := attempts.Load(); n != 4 {
		t.Fatalf("%d login attempts, want 4", n)
	}
	// Delays: ~[10,20], ~[20,40], ~[20,40], ~[20,40] ms (jittered, capped).
	prev := dropped.UnixNano()
	for i := range 4 {
		gap := time.Duration(stamps[i].Load() - prev)
		if gap < 10*time.Millisecond {
			t.Fatalf("attempt %d came %v after the previous one: no backoff", i+1, gap)
		}
		prev = stamps[i].Load()
	}
	if a.User() != "ann" {
		t.Fatalf("user %q after re-login", a.User())
	}
}

func TestReloginRefusedStops(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	st := newStates()
	errs := make(chan error, 16)
	a := dial(t, s.WS, WithReconnect(time.Millisecond, 5*time.Millisecond),
		WithConnectionStateHandler(st.handler), WithErrorHandler(func(err error) { errs <- err }))
	s.set(func(s *fakeServer) {
		s.mu.login = func([]byte) (string, string, protocol.Code) { return "", "", protocol.CodeInvalidCredentials }
	})
	s.conn(t, 1).Drop()
	st.waitFor(t, AuthFailed)
	waitDone(t, a)
	if got := st.list(); !slices.Equal(got, []ConnectionState{Connecting, Open, Reconnecting, AuthFailed}) {
		t.Fatalf("states %v", got)
	}
	if !errors.Is(a.Err(), ErrAuthFailed) || a.State() != AuthFailed {
		t.Fatalf("err %v state %s", a.Err(), a.State())
	}
	if err := a.Event.Emit("x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after AuthFailed: %v", err)
	}
	time.Sleep(30 * time.Millisecond)
	if n := len(s.matching(is(fb.TopicAuth, fb.ActionLogin))); n != 2 {
		t.Fatalf("%d logins: the client kept trying after a final refusal", n)
	}
	var sawAuth bool
	for len(errs) > 0 {
		if err := <-errs; errors.Is(err, ErrAuthFailed) {
			sawAuth = true
		}
	}
	if !sawAuth {
		t.Fatal("the refusal was not reported to the error handler")
	}
	_ = a.Close() // still fine after stopping
}

func TestServerCloseCodes(t *testing.T) {
	checkLeaks(t)
	t.Run("reconnect", func(t *testing.T) {
		s := startFake(t)
		st := newStates()
		dial(t, s.TCP, WithReconnect(time.Millisecond, 5*time.Millisecond), WithConnectionStateHandler(st.handler))
		s.conn(t, 1).CloseWith(protocol.CodeServerShutdown, "restarting")
		st.waitFor(t, Reconnecting)
		st.waitFor(t, Open)
	})
	t.Run("final", func(t *testing.T) {
		s := startFake(t)
		st := newStates()
		a := dial(t, s.TCP, WithReconnect(time.Millisecond, 5*time.Millisecond), WithConnectionStateHandler(st.handler))
		s.conn(t, 1).CloseWith(protocol.CodeProtocolError, "malformed message")
		st.waitFor(t, Closed)
		var e *Error
		if !errors.As(a.Err(), &e) || e.Code != protocol.CodeProtocolError || e.Op != "close" || e.Reason != "malformed message" {
			t.Fatalf("err = %v", a.Err())
		}
		waitDone(t, a)
		if n := s.connCount(); n != 1 {
			t.Fatalf("%d connections: reconnected after a final close", n)
		}
	})
	t.Run("without reconnect", func(t *testing.T) {
		s := startFake(t)
		st := newStates()
		a := dial(t, s.TCP, WithoutReconnect(), WithConnectionStateHandler(st.handler))
		s.conn(t, 1).Drop()
		st.waitFor(t, Closed)
		waitDone(t, a)
		if got := st.list(); !slices.Equal(got, []ConnectionState{Connecting, Open, Closed}) {
			t.Fatalf("states %v", got)
		}
	})
}

func TestDisconnectedBehaviour(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	st := newStates()
	a := dial(t, s.TCP, WithReconnect(time.Millisecond, 5*time.Millisecond), WithConnectionStateHandler(st.handler))
	b := dial(t, s.TCP)
	// Hold the reconnect until the test has acted while disconnected.
	hold := make(chan struct{})
	s.set(func(s *fakeServer) {
		s.mu.login = func([]byte) (string, string, protocol.Code) { <-hold; return "ann", "", 0 }
	})
	s.conn(t, 1).Drop()
	st.waitFor(t, Reconnecting)
	if err := a.Event.Emit("x", []byte("1")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Emit while reconnecting: %v", err)
	}
	if err := a.Event.EmitAck(context.Background(), "x", []byte("1")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("EmitAck while reconnecting: %v", err)
	}
	in := newInbox()
	start := time.Now()
	sub, err := a.Event.Subscribe("later", in.fn)
	// Waiting for the server would take the request timeout (the login
	// is held); half of it is far above a local return on a loaded machine.
	if err != nil || time.Since(start) > DefaultRequestTimeout/2 {
		t.Fatalf("Subscribe while reconnecting: %v after %v", err, time.Since(start))
	}
	drop, err := a.Event.Subscribe("dropped", in.fn)
	if err != nil {
		t.Fatal(err)
	}
	if err := drop.Unsubscribe(); err != nil { // local only: nothing to tell the server
		t.Fatal(err)
	}
	close(hold)
	st.waitFor(t, Open)
	re := s.expect(t, "resubscribe", on(3, is(fb.TopicEvent, fb.ActionSubscribe)))
	if re.m.Name != "later" || len(re.m.Names) != 0 {
		t.Fatalf("resubscribe %+v", re.m)
	}
	s.waitUntil(t, "subscription", func() bool { return len(s.mu.subs["later"]) == 1 })
	_ = b.Event.Emit("later", []byte("7"))
	if got := in.next(t); got != "7" {
		t.Fatalf("got %q", got)
	}
	_ = sub
}

// A subscribe waiting for its Ack when the connection drops succeeds; the
// name is renewed on the new connection.
func TestSubscribeAcrossDrop(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	a := dial(t, s.TCP, WithReconnect(time.Millisecond, 5*time.Millisecond))
	s.set(func(s *fakeServer) {
		s.mu.hook = func(sc *serverConn, m msg.Msg) bool {
			if sc.n == 1 && m.Action == fb.ActionSubscribe {
				sc.Drop() // never answer
				return true
			}
			return false
		}
	})
	if _, err := a.Event.Subscribe("n", func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	re := s.expect(t, "renewal", on(2, is(fb.TopicEvent, fb.ActionSubscribe)))
	if re.m.Name != "n" {
		t.Fatalf("renewed %+v", re.m)
	}
}

// Resubscribe refusals are reported and do not stop the names after them.
func TestResubscribeRefusal(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	errs := make(chan error, 16)
	a := dial(t, s.TCP, WithReconnect(time.Millisecond, 5*time.Millisecond), WithErrorHandler(func(err error) { errs <- err }))
	if _, err := a.Event.SubscribeMany(context.Background(), []string{"a", "b", "c"}, func(string, []byte) {}); err != nil {
		t.Fatal(err)
	}
	s.set(func(s *fakeServer) {
		s.mu.deny = func(_ fb.Action, name string) protocol.Code {
			if name == "b" {
				return protocol.CodePermissionDenied
			}
			return 0
		}
	})
	s.conn(t, 1).Drop()
	second := s.expect(t, "subscribe of the rest", func(r record) bool {
		return r.conn.n == 2 && r.m.Action == fb.ActionSubscribe && r.m.Name == "c"
	})
	_ = second
	for {
		select {
		case err := <-errs:
			var e *Error
			if errors.As(err, &e) && e.Op == "resubscribe" {
				if e.Name != "b" || !errors.Is(err, ErrPermissionDenied) {
					t.Fatalf("got %v", err)
				}
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("refusal not reported")
		}
	}
}

// A message over the server's frame limit makes it close the connection
// with MessageTooLarge, which the catalogue marks as final.
func TestServerRefusesOversizedFrame(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	st := newStates()
	a := dial(t, s.TCP, WithMaxFrame(4<<20), WithConnectionStateHandler(st.handler))
	if err := a.Event.Emit("big", jsonOfSize(DefaultMaxFrame+10)); err != nil {
		t.Fatal(err)
	}
	st.waitFor(t, Closed)
	if !errors.Is(a.Err(), ErrTooLarge) {
		t.Fatalf("err = %v", a.Err())
	}
}

func TestWebSocketCompression(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	a := dial(t, s.WS, WithCompression())
	b := dial(t, s.WS, WithCompression())
	in := newInbox()
	if _, err := a.Event.Subscribe("z", in.fn); err != nil {
		t.Fatal(err)
	}
	payload := `{"text":"` + strings.Repeat("compressible ", 200) + `"}`
	if err := b.Event.Emit("z", []byte(payload)); err != nil {
		t.Fatal(err)
	}
	if got := in.next(t); got != payload {
		t.Fatalf("got %d bytes", len(got))
	}
}

// Names that do not fit one frame are renewed in several Subscribe
// messages, each within the frame limit, together naming every one.
func TestResubscribeSplitsAtTheFrameLimit(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	st := newStates()
	a := dial(t, s.TCP, WithMaxFrame(1024), WithReconnect(5*time.Millisecond, 20*time.Millisecond),
		WithConnectionStateHandler(st.handler))
	var want []string
	for i := 0; i < 60; i++ {
		n := fmt.Sprintf("name-%02d-%s", i, strings.Repeat("x", 24))
		if _, err := a.Event.Subscribe(n, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		want = append(want, n)
	}
	s.conn(t, 1).Drop()
	st.waitFor(t, Reconnecting)
	st.waitFor(t, Open)
	var got []string
	renewal := on(2, is(fb.TopicEvent, fb.ActionSubscribe))
	s.waitUntil(t, "every name renewed", func() bool {
		got = got[:0]
		for _, r := range s.mu.log {
			if renewal(r) {
				got = append(got, r.m.Names...)
				if r.m.Name != "" {
					got = append(got, r.m.Name)
				}
			}
		}
		return len(got) >= len(want)
	})
	msgs := s.matching(renewal)
	if len(msgs) < 2 {
		t.Fatalf("%d Subscribe messages for %d names over a 1 KiB frame limit", len(msgs), len(want))
	}
	for _, r := range msgs {
		if n := len(msg.Append(nil, &r.m)); n > 1024 {
			t.Fatalf("a Subscribe of %d bytes over the 1 KiB frame limit", n)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("renewed %v, want %v", got, want)
	}
}
