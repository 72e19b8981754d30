package eddy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// TestListenAcceptAfterTheConnectionDropped: a provider that starts
// providing in onFound and calls Accept only after the connection dropped
// gets ErrConnectionLost from Accept, and onRemoved all the same, before
// the server asks it again after the reconnect: it is told to stop what it
// started.
func TestListenAcceptAfterTheConnectionDropped(t *testing.T) {
	for _, transport := range []string{"tcp", "ws"} {
		for _, when := range []string{"before the reconnect", "after the reconnect"} {
			t.Run(transport+"/"+when, func(t *testing.T) {
				tcpAddr, wsAddr := enginetest.RestartAddrs(t)
				ports := func(o *engine.Options) { o.Net.WSAddr, o.Net.TCPAddr = wsAddr, tcpAddr }
				srv := enginetest.Start(t, ports)
				p := dial(t, addrOf(srv, transport), eddy.WithReconnect(20*time.Millisecond, 200*time.Millisecond))
				// seen gets "found:" and "removed:" in the order the
				// callbacks ran.
				seen := make(chan string, 16)
				proceed := make(chan struct{})
				acceptErr := make(chan error, 1)
				first := true
				err := p.Event.Listen("late/.*", func(m string, r *eddy.ListenResponse) {
					seen <- "found:" + m
					if first {
						first = false
						<-proceed // the provider starts, and accepts once the connection is gone
						acceptErr <- r.Accept()
						return
					}
					_ = r.Accept()
				}, func(m string) { seen <- "removed:" + m })
				if err != nil {
					t.Fatal(err)
				}
				sub := dial(t, addrOf(srv, "tcp"), eddy.WithReconnect(20*time.Millisecond, 200*time.Millisecond))
				if _, err := sub.Event.Subscribe("late/x", func([]byte) {}); err != nil {
					t.Fatal(err)
				}
				expectOn(t, seen, "found:late/x")

				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the provider to notice", func() bool { return p.State() != eddy.Open })
				if when == "before the reconnect" {
					close(proceed)
					if err := <-acceptErr; !errors.Is(err, eddy.ErrConnectionLost) {
						t.Fatalf("Accept on a dropped connection: %v", err)
					}
					enginetest.Start(t, ports)
				} else {
					enginetest.Start(t, ports)
					waitFor(t, "the provider to reconnect", func() bool { return p.State() == eddy.Open })
					close(proceed)
					if err := <-acceptErr; !errors.Is(err, eddy.ErrConnectionLost) {
						t.Fatalf("Accept of a question asked before the reconnect: %v", err)
					}
				}
				expectOn(t, seen, "removed:late/x")
				expectOn(t, seen, "found:late/x") // asked again, and accepted
			})
		}
	}
}

// waitFor polls cond until it holds, for at most 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
