package eddy_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine/enginetest"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

type change struct {
	user   string
	online bool
}

func changes() (chan change, func(string, bool)) {
	ch := make(chan change, 32)
	return ch, func(u string, on bool) { ch <- change{u, on} }
}

func expectChange(t *testing.T, ch <-chan change, want change) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %+v in 10s", want)
	}
}

func expectNoChange(t *testing.T, ch <-chan change) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected %+v", got)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPresenceEndToEnd(t *testing.T) {
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			// A server each: the first subtest's connections close in its
			// cleanup, and their leaves must not reach the second's watcher.
			srv := enginetest.Start(t, nil)
			addr := addrOf(srv, transport)
			ann, bob := "ann-"+transport, "bob-"+transport
			w := dial(t, addr, as("watcher-"+transport))
			all, allFn := changes()
			unsubAll := w.Presence.Subscribe(allFn)
			onlyBob, bobFn := changes()
			unsubBob := w.Presence.SubscribeTo(bob, bobFn)
			// Wait until the subscriptions are in place on the server.
			if _, err := w.Presence.GetAll(ctxFor(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}

			a1 := dial(t, addr, as(ann))
			a2 := dial(t, addr, as(ann)) // a second connection: no second join
			expectChange(t, all, change{ann, true})
			b := dial(t, addr, as(bob))
			expectChange(t, all, change{bob, true})
			expectChange(t, onlyBob, change{bob, true})

			online, err := w.Presence.GetAll(ctxFor(t, 5*time.Second))
			if err != nil || !slices.Contains(online, ann) || !slices.Contains(online, bob) || slices.Contains(online, "watcher-"+transport) {
				t.Fatalf("GetAll = %q, %v", online, err)
			}
			got, err := w.Presence.Get(ctxFor(t, 5*time.Second), []string{ann, "nobody"})
			if err != nil || len(got) != 2 || !got[ann] || got["nobody"] {
				t.Fatalf("Get = %v, %v", got, err)
			}

			_ = a1.Close()
			expectNoChange(t, all) // ann still has a2
			_ = a2.Close()
			expectChange(t, all, change{ann, false})
			unsubAll()
			unsubAll() // twice is harmless
			_ = b.Close()
			expectChange(t, onlyBob, change{bob, false})
			expectNoChange(t, all)
			unsubBob()
			dial(t, addr, as(bob))
			expectNoChange(t, onlyBob)
		})
	}
}

func TestPresenceErrors(t *testing.T) {
	srv := enginetest.Start(t, nil)
	c := dial(t, addrOf(srv, "tcp"))
	if _, err := c.Presence.Get(ctxFor(t, 5*time.Second), []string{"ok", ""}); !errors.Is(err, eddy.ErrInvalidName) {
		t.Fatalf("empty name: %v", err)
	}
	if got, err := c.Presence.Get(ctxFor(t, 5*time.Second), nil); err != nil || len(got) != 0 {
		t.Fatalf("no names: %v, %v", got, err)
	}
	if got, err := c.Presence.GetAll(ctxFor(t, 5*time.Second)); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("nobody online: %#v, %v", got, err)
	}
	_ = c.Close()
	if _, err := c.Presence.GetAll(ctxFor(t, 5*time.Second)); !errors.Is(err, eddy.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
