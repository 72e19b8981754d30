package eddy_test

import (
	"errors"
	"testing"

	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

func TestListenEndToEnd(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			addr := addrOf(srv, transport)
			pattern := transport + "/prices/.*"
			prov := dial(t, addr)
			found, removed := make(chan string, 8), make(chan string, 8)
			err := prov.Event.Listen(pattern, func(match string, r *eddy.ListenResponse) {
				if err := r.Accept(); err != nil {
					t.Error(err)
				}
				if err := r.Accept(); !errors.Is(err, eddy.ErrAlreadyAnswered) {
					t.Errorf("second answer: %v", err)
				}
				found <- match
			}, func(match string) { removed <- match })
			if err != nil {
				t.Fatal(err)
			}
			sub := dial(t, addr)
			col := newCollector()
			s, err := sub.Event.Subscribe(transport+"/prices/eur", col.add)
			if err != nil {
				t.Fatal(err)
			}
			expectOn(t, found, transport+"/prices/eur")
			// The provider publishes what it was asked for.
			if err := prov.Event.Emit(transport+"/prices/eur", []byte(`1.08`)); err != nil {
				t.Fatal(err)
			}
			if got := col.wait(t, 1); got[0] != `1.08` {
				t.Fatalf("got %q", got)
			}
			if err := s.Unsubscribe(); err != nil {
				t.Fatal(err)
			}
			expectOn(t, removed, transport+"/prices/eur")

			// Unlisten: onRemoved for what it still provides.
			if _, err := sub.Event.Subscribe(transport+"/prices/usd", col.add); err != nil {
				t.Fatal(err)
			}
			expectOn(t, found, transport+"/prices/usd")
			if err := prov.Event.Unlisten(pattern); err != nil {
				t.Fatal(err)
			}
			expectOn(t, removed, transport+"/prices/usd")
			if err := prov.Event.Unlisten(pattern); !errors.Is(err, &eddy.Error{Code: protocol.CodeNotListening}) {
				t.Fatalf("second unlisten: %v", err)
			}
		})
	}
}

func TestListenRejectAndFailover(t *testing.T) {
	srv := enginetest.Start(t, nil)
	addr := addrOf(srv, "tcp")
	asked := make(chan string, 8)
	picky := dial(t, addr)
	if err := picky.Event.Listen("jobs/.*", func(m string, r *eddy.ListenResponse) { asked <- "picky"; _ = r.Reject() }, nil); err != nil {
		t.Fatal(err)
	}
	willing := dial(t, addr)
	if err := willing.Event.Listen("jobs/[0-9]+", func(m string, r *eddy.ListenResponse) { asked <- "willing"; _ = r.Accept() }, nil); err != nil {
		t.Fatal(err)
	}
	sub := dial(t, addr)
	if _, err := sub.Event.Subscribe("jobs/1", func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	for got := ""; got != "willing"; {
		got = expectAny(t, asked) // picky may be asked first, and rejects
	}
	// The provider goes away: the remaining listener is asked again.
	_ = willing.Close()
	expectOn(t, asked, "picky")
}

func TestListenErrors(t *testing.T) {
	srv := enginetest.Start(t, nil)
	c := dial(t, addrOf(srv, "ws"))
	noop := func(string, *eddy.ListenResponse) {}
	if err := c.Event.Listen("prices/(", noop, nil); !errors.Is(err, &eddy.Error{Code: protocol.CodeInvalidPattern}) {
		t.Fatalf("invalid pattern: %v", err)
	}
	if err := c.Event.Listen("prices/.*", noop, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Event.Listen("prices/.*", noop, nil); !errors.Is(err, &eddy.Error{Code: protocol.CodeAlreadyListening}) {
		t.Fatalf("second listen: %v", err)
	}
	// A refused pattern is not kept: listening to it again is refused by
	// the server again, not locally as a duplicate.
	if err := c.Event.Listen("prices/(", noop, nil); !errors.Is(err, &eddy.Error{Code: protocol.CodeInvalidPattern}) {
		t.Fatalf("invalid pattern again: %v", err)
	}
	_ = c.Close()
	if err := c.Event.Listen("x", noop, nil); !errors.Is(err, eddy.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
