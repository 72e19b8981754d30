package eddy_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// These tests run the SDK against the real server, in process, on free
// loopback ports.

func addrOf(srv *engine.Server, transport string) string {
	if transport == "ws" {
		return "ws://" + srv.WSAddr() + "/"
	}
	return "tcp://" + srv.TCPAddr()
}

func dial(t *testing.T, addr string, opts ...eddy.Option) *eddy.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eddy.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// collector gathers the events one subscriber receives.
type collector struct {
	mu   sync.Mutex
	got  []string
	more chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) add(data []byte) {
	c.mu.Lock()
	c.got = append(c.got, string(data))
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *collector) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		if len(c.got) >= n {
			out := append([]string(nil), c.got...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("got %d of %d events", len(c.got), n)
		}
	}
}

func TestEventsEndToEnd(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			name := "news/sport/" + transport
			// Subscribers on both transports, spread over the server's loops.
			var cols []*collector
			for i := 0; i < 6; i++ {
				tr := []string{"tcp", "ws"}[i%2]
				c := dial(t, addrOf(srv, tr))
				col := newCollector()
				if _, err := c.Event.Subscribe(name, col.add); err != nil {
					t.Fatal(err)
				}
				cols = append(cols, col)
			}
			// Two publishers; each one's events must arrive in its order.
			pubs := []*eddy.Client{dial(t, addrOf(srv, transport)), dial(t, addrOf(srv, "tcp"))}
			own := newCollector()
			if _, err := pubs[0].Event.Subscribe(name, own.add); err != nil {
				t.Fatal(err)
			}
			const n = 500
			var wg sync.WaitGroup
			for p, pub := range pubs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < n; i++ {
						if err := pub.Event.Emit(name, []byte(fmt.Sprintf(`{"p":%d,"i":%d}`, p, i))); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			for ci, col := range cols {
				got := col.wait(t, 2*n)
				if len(got) != 2*n {
					t.Fatalf("subscriber %d got %d events", ci, len(got))
				}
				next := [2]int{}
				for _, e := range got {
					var p, i int
					if _, err := fmt.Sscanf(e, `{"p":%d,"i":%d}`, &p, &i); err != nil {
						t.Fatalf("bad event %q", e)
					}
					if i != next[p] {
						t.Fatalf("subscriber %d: publisher %d event %d arrived when %d was due", ci, p, i, next[p])
					}
					next[p]++
				}
			}
			// The publisher's own subscriber sees everything exactly once:
			// its own events locally, the other publisher's from the server.
			if got := own.wait(t, 2*n); len(got) != 2*n {
				t.Fatalf("own subscriber got %d", len(got))
			}
			time.Sleep(50 * time.Millisecond)
			if got := own.wait(t, 0); len(got) != 2*n {
				t.Fatalf("own subscriber got %d events, want %d: an event came back twice", len(got), 2*n)
			}
		})
	}
}

// TestEmitRefusesDataThatIsNotJSON: Emit and EmitAck refuse data that is
// not JSON with ErrInvalidData; neither the other client's subscriber nor
// the emitter's own receives it, and valid events still flow in order.
func TestEmitRefusesDataThatIsNotJSON(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			name := "json/" + transport
			pub := dial(t, addrOf(srv, transport))
			sub := dial(t, addrOf(srv, "tcp"))
			theirs, own := newCollector(), newCollector()
			if _, err := sub.Event.Subscribe(name, theirs.add); err != nil {
				t.Fatal(err)
			}
			if _, err := pub.Event.Subscribe(name, own.add); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"not json", `{"a":1`, `1 2`} {
				if err := pub.Event.Emit(name, []byte(bad)); !errors.Is(err, eddy.ErrInvalidData) {
					t.Fatalf("Emit(%q): %v, want ErrInvalidData", bad, err)
				}
				if err := pub.Event.EmitAck(ctxFor(t, 5*time.Second), name, []byte(bad)); !errors.Is(err, eddy.ErrInvalidData) {
					t.Fatalf("EmitAck(%q): %v, want ErrInvalidData", bad, err)
				}
			}
			if err := pub.Event.EmitAck(ctxFor(t, 5*time.Second), name, nil); err != nil {
				t.Fatal(err)
			}
			if err := pub.Event.Emit(name, []byte(`{"ok":true}`)); err != nil {
				t.Fatal(err)
			}
			// One publisher's events arrive in order: had a refused one been
			// delivered, it would come first.
			for who, c := range map[string]*collector{"subscriber": theirs, "emitter's own subscriber": own} {
				if got := c.wait(t, 2); got[0] != "" || got[1] != `{"ok":true}` {
					t.Fatalf("%s got %q", who, got)
				}
			}
		})
	}
}

func TestUnsubscribeEndToEnd(t *testing.T) {
	srv := enginetest.Start(t, nil)
	a := dial(t, addrOf(srv, "tcp"))
	b := dial(t, addrOf(srv, "ws"))
	col := newCollector()
	sub, err := a.Event.Subscribe("x", col.add)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Event.Emit("x", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	col.wait(t, 1)
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	// Once the server has no subscriber, nothing more arrives.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Events().Count("x") != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.Event.EmitAck(context.Background(), "x", []byte(`2`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := col.wait(t, 1); len(got) != 1 {
		t.Fatalf("got %v after unsubscribing", got)
	}
}

// TestReconnectAfterRestart stops the server, starts a new one on the same
// ports, and checks the client reconnects, logs in again and renews its
// subscriptions by itself.
func TestReconnectAfterRestart(t *testing.T) {
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			tcp, ws := enginetest.RestartAddrs(t)
			srv := enginetest.Start(t, func(o *engine.Options) { o.Net.WSAddr, o.Net.TCPAddr = ws, tcp })
			states := make(chan eddy.ConnectionState, 16)
			c := dial(t, addrOf(srv, transport),
				eddy.WithAuth(map[string]any{"username": "ann"}),
				eddy.WithReconnect(20*time.Millisecond, 200*time.Millisecond),
				eddy.WithConnectionStateHandler(func(s eddy.ConnectionState) { states <- s }))
			col := newCollector()
			for i := 0; i < 3; i++ {
				if _, err := c.Event.Subscribe("topic/"+strconv.Itoa(i), col.add); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			srv2 := enginetest.Start(t, func(o *engine.Options) { o.Net.WSAddr, o.Net.TCPAddr = ws, tcp })
			waitState(t, states, eddy.Reconnecting)
			waitState(t, states, eddy.Open)
			if c.User() != "ann" {
				t.Fatalf("user after re-login: %q", c.User())
			}
			pub := dial(t, addrOf(srv2, "tcp"))
			for i := 0; i < 3; i++ {
				if err := pub.Event.Emit("topic/"+strconv.Itoa(i), []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			got := col.wait(t, 3)
			if len(got) != 3 || got[0] != "0" || got[2] != "2" {
				t.Fatalf("after reconnect got %v", got)
			}
		})
	}
}

func waitState(t *testing.T, states <-chan eddy.ConnectionState, want eddy.ConnectionState) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-states:
			if s == want {
				return
			}
		case <-deadline:
			t.Fatalf("state %v never reached", want)
		}
	}
}
