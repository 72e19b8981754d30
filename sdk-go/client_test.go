package eddy

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func TestDial(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks(t)
			s := startFake(t)
			s.set(func(s *fakeServer) {
				s.mu.login = func(data []byte) (string, string, protocol.Code) {
					var a struct{ Username, Password string }
					if json.Unmarshal(data, &a) != nil || a.Password != "pw" {
						return "", "", protocol.CodeInvalidCredentials
					}
					return a.Username, `{"role":"admin"}`, 0
				}
			})
			st := newStates()
			c := dial(t, tr.addr(s), WithAuth(map[string]any{"username": "ann", "password": "pw"}),
				WithConnectionStateHandler(st.handler))
			if c.State() != Open || c.User() != "ann" || string(c.ClientData()) != `{"role":"admin"}` {
				t.Fatalf("state %s user %q data %s", c.State(), c.User(), c.ClientData())
			}
			hs := s.expect(t, "handshake", is(fb.TopicConnection, fb.ActionHandshake))
			if hs.m.Name != "eddy" || hs.m.Version != protocol.Version || !json.Valid(hs.m.Data) {
				t.Fatalf("handshake %+v", hs.m)
			}
			login := s.expect(t, "login", is(fb.TopicAuth, fb.ActionLogin))
			if login.m.ID == 0 || !strings.Contains(string(login.m.Data), `"username":"ann"`) {
				t.Fatalf("login %+v", login.m)
			}
			st.waitFor(t, Open)
			if got := st.list(); !slices.Equal(got, []ConnectionState{Connecting, Open}) {
				t.Fatalf("states %v", got)
			}
			if c.Err() != nil {
				t.Fatal(c.Err())
			}
		})
	}
}

func TestDialAnonymous(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	c := dial(t, s.TCP)
	if c.User() != "anon" || c.ClientData() != nil {
		t.Fatalf("user %q data %q", c.User(), c.ClientData())
	}
	if login := s.expect(t, "login", is(fb.TopicAuth, fb.ActionLogin)); login.m.Data != nil {
		t.Fatalf("anonymous login sent data %q", login.m.Data)
	}
}

func TestDialErrors(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	t.Run("wrong version", func(t *testing.T) {
		s := startFake(t)
		s.set(func(s *fakeServer) { s.mu.version = 7 })
		_, err := Dial(ctx, s.TCP)
		var e *Error
		if !errors.Is(err, ErrUnsupportedVersion) || !errors.As(err, &e) || e.Code != protocol.CodeUnsupportedVersion {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("login refused", func(t *testing.T) {
		s := startFake(t)
		s.set(func(s *fakeServer) {
			s.mu.login = func([]byte) (string, string, protocol.Code) { return "", "", protocol.CodeInvalidCredentials }
		})
		st := newStates()
		_, err := Dial(ctx, s.WS, WithAuth(json.RawMessage(`{"token":"x"}`)), WithConnectionStateHandler(st.handler))
		var e *Error
		if !errors.As(err, &e) || e.Code != protocol.CodeInvalidCredentials || e.Op != "login" {
			t.Fatalf("err = %v", err)
		}
		if !errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrPermissionDenied) || !errors.Is(err, &Error{Code: protocol.CodeInvalidCredentials}) {
			t.Fatal("errors.Is mismatch")
		}
		if got := st.list(); !slices.Equal(got, []ConnectionState{Connecting, AuthFailed}) {
			t.Fatalf("states %v", got)
		}
	})
	t.Run("closed by server", func(t *testing.T) {
		s := startFake(t)
		s.set(func(s *fakeServer) {
			s.mu.login = func([]byte) (string, string, protocol.Code) { return "", "", protocol.CodeTooManyAuthAttempts }
		})
		_, err := Dial(ctx, s.TCP)
		if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		for _, addr := range []string{"http://x", "tcp://", "ws://"} {
			if _, err := Dial(ctx, addr); !errors.Is(err, ErrBadAddress) {
				t.Errorf("%q: %v", addr, err)
			}
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		s := startFake(t)
		addr := s.TCP
		s.Close()
		if _, err := Dial(ctx, addr); err == nil || !strings.HasPrefix(err.Error(), "eddy: ") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("silent server", func(t *testing.T) {
		s := startFake(t)
		// The login never finishes: Dial gives up at its timeout.
		hold := make(chan struct{})
		s.set(func(s *fakeServer) {
			s.mu.login = func([]byte) (string, string, protocol.Code) { <-hold; return "x", "", 0 }
		})
		defer close(hold)
		_, err := Dial(ctx, s.TCP, WithDialTimeout(50*time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNotEddy) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unmarshalable auth", func(t *testing.T) {
		if _, err := Dial(ctx, "tcp://127.0.0.1:1", WithAuth(func() {})); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestServerPingAnswered(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks(t)
			s := startFake(t)
			dial(t, tr.addr(s))
			if err := s.conn(t, 1).Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 42}); err != nil {
				t.Fatal(err)
			}
			s.expect(t, "pong 42", func(r record) bool {
				return r.m.Topic == fb.TopicConnection && r.m.Action == fb.ActionPong && r.m.ID == 42
			})
		})
	}
}

func TestClientPings(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	st := newStates()
	c := dial(t, s.TCP, WithHeartbeat(20*time.Millisecond), WithConnectionStateHandler(st.handler))
	s.waitUntil(t, "three pings", func() bool {
		n := 0
		for _, r := range s.mu.log {
			if r.m.Topic == fb.TopicConnection && r.m.Action == fb.ActionPing {
				n++
			}
		}
		return n >= 3
	})
	if c.State() != Open {
		t.Fatalf("answered pings dropped the connection: %s", c.State())
	}

	// The server stops answering: the client drops the connection after two
	// intervals and reconnects.
	s.set(func(s *fakeServer) { s.mu.noPong = true })
	st.waitFor(t, Reconnecting)
	s.set(func(s *fakeServer) { s.mu.noPong = false })
	st.waitFor(t, Open)
	s.conn(t, 2)
}

func TestHeartbeatFromServer(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	s.set(func(s *fakeServer) { s.mu.heartbeatMs = 20 })
	dial(t, s.TCP) // no WithHeartbeat: the client pings at the server's interval
	start := time.Now()
	s.expect(t, "a ping", is(fb.TopicConnection, fb.ActionPing))
	// Half the default interval: far above 20ms even on a loaded machine.
	if time.Since(start) > DefaultHeartbeat/2 {
		t.Fatal("pinged at the default interval, not the server's")
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkLeaks(t)
			s := startFake(t)
			st := newStates()
			c := dial(t, tr.addr(s), WithConnectionStateHandler(st.handler))
			sub, err := c.Event.Subscribe("a", func([]byte) {})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Close took %v", d)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			cl := s.expect(t, "close", is(fb.TopicConnection, fb.ActionClose))
			if cl.m.Code != uint16(protocol.CodeNormalClose) {
				t.Fatalf("close code %d", cl.m.Code)
			}
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done never closed")
			}
			if c.State() != Closed || !errors.Is(c.Err(), ErrClosed) {
				t.Fatalf("state %s err %v", c.State(), c.Err())
			}
			if got := st.list(); !slices.Equal(got, []ConnectionState{Connecting, Open, Closed}) {
				t.Fatalf("states %v", got)
			}
			if err := c.Event.Emit("a", nil); !errors.Is(err, ErrClosed) {
				t.Fatalf("Emit after Close: %v", err)
			}
			if _, err := c.Event.Subscribe("b", func([]byte) {}); !errors.Is(err, ErrClosed) {
				t.Fatalf("Subscribe after Close: %v", err)
			}
			if err := sub.Unsubscribe(); err != nil {
				t.Fatalf("Unsubscribe after Close: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			if n := len(s.matching(is(fb.TopicConnection, fb.ActionHandshake))); n != 1 {
				t.Fatalf("%d handshakes: the client reconnected after Close", n)
			}
		})
	}
}

func TestCloseFromCallback(t *testing.T) {
	checkLeaks(t)
	s := startFake(t)
	c := dial(t, s.TCP)
	closed := make(chan struct{})
	if _, err := c.Event.Subscribe("x", func([]byte) { _ = c.Close(); close(closed) }); err != nil {
		t.Fatal(err)
	}
	if err := c.Event.Emit("x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close from a callback did not return")
	}
	waitDone(t, c)
}

func TestNoGoroutineLeak(t *testing.T) {
	s := startFake(t)
	before := countGoroutines()
	for i := range 5 {
		c := dial(t, transports[i%2].addr(s), WithReconnect(time.Millisecond, 5*time.Millisecond), WithHeartbeat(10*time.Millisecond))
		if _, err := c.Event.Subscribe("n", func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		if err := c.Event.Emit("n", []byte("1")); err != nil {
			t.Fatal(err)
		}
		s.conn(t, s.connCount()).Drop() // force one reconnect
		_ = c.Close()
		waitDone(t, c)
	}
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := countGoroutines()
		if n <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after; leaked:\n%s", before, n, strings.Join(leaked(), "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
