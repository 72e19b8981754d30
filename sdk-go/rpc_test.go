package eddy_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

func as(user string) eddy.Option { return eddy.WithAuth(map[string]any{"username": user}) }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// addTwo is the provider from the package documentation.
func addTwo(req *eddy.RPCRequest) {
	var n int
	if err := json.Unmarshal(req.Data(), &n); err != nil {
		_ = req.Error("not a number: " + string(req.Data()))
		return
	}
	_ = req.Respond(context.Background(), n+2)
}

func TestRPCEndToEnd(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			prov := dial(t, addrOf(srv, transport), as("bob"))
			req := dial(t, addrOf(srv, transport), as("ann"))
			name := "add-two-" + transport
			if err := prov.RPC.Provide(name, addTwo); err != nil {
				t.Fatal(err)
			}
			res, err := req.RPC.Make(ctxFor(t, 5*time.Second), name, 5)
			if err != nil || string(res) != "7" {
				t.Fatalf("Make = %s, %v", res, err)
			}
			// The provider's error comes back with its message.
			_, err = req.RPC.Make(ctxFor(t, 5*time.Second), name, "x")
			var e *eddy.Error
			if !errors.As(err, &e) || e.Code != protocol.CodeRpcProviderError || e.Reason != `not a number: "x"` {
				t.Fatalf("provider error: %v", err)
			}
			// Raw JSON goes through untouched.
			if res, err := req.RPC.Make(ctxFor(t, 5*time.Second), name, json.RawMessage("40")); err != nil || string(res) != "42" {
				t.Fatalf("raw: %s, %v", res, err)
			}
			if err := prov.RPC.Provide(name, addTwo); !errors.Is(err, &eddy.Error{Code: protocol.CodeRpcAlreadyProvided}) {
				t.Fatalf("second provide: %v", err)
			}
			if err := prov.RPC.Unprovide(name); err != nil {
				t.Fatal(err)
			}
			if err := prov.RPC.Unprovide(name); !errors.Is(err, &eddy.Error{Code: protocol.CodeRpcNotProvided}) {
				t.Fatalf("second unprovide: %v", err)
			}
			if _, err := req.RPC.Make(ctxFor(t, 5*time.Second), name, 1); !errors.Is(err, eddy.ErrNoProvider) {
				t.Fatalf("after unprovide: %v", err)
			}
		})
	}
}

func TestRPCRejectGoesToAnotherProvider(t *testing.T) {
	srv := enginetest.Start(t, nil)
	addr := addrOf(srv, "tcp")
	var rejected, served atomic.Int32
	picky := dial(t, addr)
	if err := picky.RPC.Provide("job", func(r *eddy.RPCRequest) { rejected.Add(1); _ = r.Reject() }); err != nil {
		t.Fatal(err)
	}
	willing := dial(t, addr)
	if err := willing.RPC.Provide("job", func(r *eddy.RPCRequest) { served.Add(1); _ = r.Respond(context.Background(), "ok") }); err != nil {
		t.Fatal(err)
	}
	req := dial(t, addr)
	for i := 0; i < 6; i++ {
		if res, err := req.RPC.Make(ctxFor(t, 5*time.Second), "job", i); err != nil || string(res) != `"ok"` {
			t.Fatalf("call %d: %s, %v", i, res, err)
		}
	}
	if served.Load() != 6 || rejected.Load() == 0 {
		t.Fatalf("served %d, rejected %d", served.Load(), rejected.Load())
	}
	if err := willing.RPC.Unprovide("job"); err != nil {
		t.Fatal(err)
	}
	if _, err := req.RPC.Make(ctxFor(t, 5*time.Second), "job", 0); !errors.Is(err, eddy.ErrNoProvider) {
		t.Fatalf("only a rejecting provider left: %v", err)
	}
}

func TestRPCAnswerLaterAndTimeouts(t *testing.T) {
	// Wide enough that a loaded machine keeps to them: the implicit accept
	// reaches the server within 500ms, and the answer given 600ms after the
	// request within the 2.5s response timeout.
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.RPC.AcceptTimeout = 500 * time.Millisecond
		o.RPC.ResponseTimeout = 2500 * time.Millisecond
	})
	addr := addrOf(srv, "ws")
	prov := dial(t, addr)
	held := make(chan *eddy.RPCRequest, 4)
	if err := prov.RPC.Provide("later", func(r *eddy.RPCRequest) { held <- r }); err != nil {
		t.Fatal(err)
	}
	req := dial(t, addr)

	// The handler returns without answering (which accepts) and answers
	// from another goroutine.
	go func() {
		r := <-held
		time.Sleep(600 * time.Millisecond) // past the accept timeout: accepted, so not rerouted
		_ = r.Respond(context.Background(), map[string]int{"n": 1})
	}()
	if res, err := req.RPC.Make(ctxFor(t, 5*time.Second), "later", nil); err != nil || string(res) != `{"n":1}` {
		t.Fatalf("answer later: %s, %v", res, err)
	}

	// Accepted but never answered: the server's response deadline (a ctx
	// without a deadline leaves the server's configured one in force).
	if _, err := req.RPC.Make(context.Background(), "later", 1); !errors.Is(err, eddy.ErrTimeout) ||
		!errors.Is(err, &eddy.Error{Code: protocol.CodeRpcResponseTimeout}) {
		t.Fatalf("response timeout: %v", err)
	}
	late := <-held
	if err := late.Respond(context.Background(), 1); err != nil { // dropped by the server, reported as unsolicited
		t.Fatal(err)
	}
	if err := late.Respond(context.Background(), 1); !errors.Is(err, eddy.ErrAlreadyAnswered) {
		t.Fatalf("second answer: %v", err)
	}

	// The caller's own deadline is shorter: the server is told, and the
	// error is ErrTimeout either way, well before the server's 2.5s.
	start := time.Now()
	_, err := req.RPC.Make(ctxFor(t, 100*time.Millisecond), "later", 2)
	if !errors.Is(err, eddy.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("ctx deadline: %v after %v", err, time.Since(start))
	}
	<-held
}

func TestRPCSelfOnlyWhenSoleProvider(t *testing.T) {
	srv := enginetest.Start(t, nil)
	addr := addrOf(srv, "tcp")
	self := dial(t, addr, as("ann"))
	if err := self.RPC.Provide("who", func(r *eddy.RPCRequest) { _ = r.Respond(context.Background(), "self") }); err != nil {
		t.Fatal(err)
	}
	if res, err := self.RPC.Make(ctxFor(t, 5*time.Second), "who", nil); err != nil || string(res) != `"self"` {
		t.Fatalf("sole provider: %s, %v", res, err)
	}
	other := dial(t, addr, as("bob"))
	if err := other.RPC.Provide("who", func(r *eddy.RPCRequest) { _ = r.Respond(context.Background(), "other") }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if res, err := self.RPC.Make(ctxFor(t, 5*time.Second), "who", nil); err != nil || string(res) != `"other"` {
			t.Fatalf("call %d: %s, %v", i, res, err)
		}
	}
}

func TestRPCExposeRequesterUser(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) { o.RPC.ExposeRequester = true })
	prov := dial(t, addrOf(srv, "tcp"))
	if err := prov.RPC.Provide("whoami", func(r *eddy.RPCRequest) { _ = r.Respond(context.Background(), r.User()) }); err != nil {
		t.Fatal(err)
	}
	req := dial(t, addrOf(srv, "ws"), as("ann"))
	if res, err := req.RPC.Make(ctxFor(t, 5*time.Second), "whoami", nil); err != nil || string(res) != `"ann"` {
		t.Fatalf("%s, %v", res, err)
	}
}

// TestRestoredAfterReconnect restarts the server under a provider, a
// presence subscriber and a listener, and checks all three work again
// once the clients are back.
func TestRestoredAfterReconnect(t *testing.T) {
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			tcpAddr, wsAddr := enginetest.RestartAddrs(t)
			srv := enginetest.Start(t, func(o *engine.Options) { o.Net.WSAddr, o.Net.TCPAddr = wsAddr, tcpAddr })
			states := make(chan eddy.ConnectionState, 16)
			c := dial(t, addrOf(srv, transport), as("ann"),
				eddy.WithReconnect(20*time.Millisecond, 200*time.Millisecond),
				eddy.WithConnectionStateHandler(func(s eddy.ConnectionState) { states <- s }))
			if err := c.RPC.Provide("add-two", addTwo); err != nil {
				t.Fatal(err)
			}
			joins := make(chan string, 8)
			unsub := c.Presence.Subscribe(func(user string, online bool) {
				if online {
					joins <- user
				}
			})
			defer unsub()
			found, removed := make(chan string, 8), make(chan string, 8)
			if err := c.Event.Listen("prices/.*", func(m string, r *eddy.ListenResponse) { found <- m; _ = r.Accept() },
				func(m string) { removed <- m }); err != nil {
				t.Fatal(err)
			}
			sub := dial(t, addrOf(srv, "tcp"), eddy.WithReconnect(20*time.Millisecond, 200*time.Millisecond))
			if _, err := sub.Event.Subscribe("prices/eur", func([]byte) {}); err != nil {
				t.Fatal(err)
			}
			expectOn(t, found, "prices/eur")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			srv2 := enginetest.Start(t, func(o *engine.Options) { o.Net.WSAddr, o.Net.TCPAddr = wsAddr, tcpAddr })
			waitState(t, states, eddy.Reconnecting)
			expectOn(t, removed, "prices/eur") // the new server must ask again
			waitState(t, states, eddy.Open)

			// The subscriber reconnects and renews its subscription: the
			// listener is asked again.
			expectOn(t, found, "prices/eur")
			// The provider is back.
			req := dial(t, addrOf(srv2, "tcp"), as("bob"))
			if res, err := req.RPC.Make(ctxFor(t, 5*time.Second), "add-two", 40); err != nil || string(res) != "42" {
				t.Fatalf("after reconnect: %s, %v", res, err)
			}
			// The presence subscription is back (bob joined after it was renewed,
			// or before: either way a new user shows).
			dial(t, addrOf(srv2, "ws"), as("carl"))
			for got := ""; got != "carl"; {
				got = expectAny(t, joins)
			}
		})
	}
}

func expectOn(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	if got := expectAny(t, ch); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func expectAny(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case got := <-ch:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived in 10s")
	}
	return ""
}

func BenchmarkRPCRoundTrip(b *testing.B) {
	srv := enginetest.Start(b, nil)
	ctx := context.Background()
	prov, err := eddy.Dial(ctx, addrOf(srv, "tcp"))
	if err != nil {
		b.Fatal(err)
	}
	defer prov.Close()
	if err := prov.RPC.Provide("add-two", addTwo); err != nil {
		b.Fatal(err)
	}
	req, err := eddy.Dial(ctx, addrOf(srv, "tcp"))
	if err != nil {
		b.Fatal(err)
	}
	defer req.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		res, err := req.RPC.Make(ctx, "add-two", i)
		if err != nil || string(res) != strconv.Itoa(i+2) {
			b.Fatalf("%s, %v", res, err)
		}
	}
}
