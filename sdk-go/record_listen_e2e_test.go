package eddy_test

import (
	"context"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine/enginetest"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// TestRecordListeningEndToEnd: a provider listening to a record pattern is
// asked when a record gets its first subscriber; the subscriber sees the
// provider come and go.
func TestRecordListeningEndToEnd(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			provider := dial(t, addrOf(srv, transport))
			found := make(chan string, 1)
			removed := make(chan string, 1)
			// The provider accepts only once the subscriber watches for the
			// change, or the change could come before OnProviderChange.
			watching := make(chan struct{})
			err := provider.Record.Listen("cars/.*", func(match string, r *eddy.ListenResponse) {
				select {
				case <-watching:
				case <-time.After(10 * time.Second):
				}
				if err := r.Accept(); err != nil {
					t.Error(err)
				}
				found <- match
			}, func(match string) { removed <- match })
			if err != nil {
				t.Fatal(err)
			}
			sub := dial(t, addrOf(srv, transport))
			rec, err := sub.Record.Get(ctx, "cars/"+transport)
			if err != nil {
				t.Fatal(err)
			}
			changes := make(chan bool, 4)
			rec.OnProviderChange(func(has bool) { changes <- has })
			close(watching)
			select {
			case m := <-found:
				if m != "cars/"+transport {
					t.Fatalf("asked about %q", m)
				}
			case <-ctx.Done():
				t.Fatal("provider never asked")
			}
			expectProviderChange(t, changes, true)
			if !rec.HasProvider() {
				t.Fatal("HasProvider false after the provider accepted")
			}
			// The provider leaves: the subscriber is told.
			_ = provider.Close()
			expectProviderChange(t, changes, false)
			// A new provider takes over.
			p2 := dial(t, addrOf(srv, transport))
			if err := p2.Record.Listen("cars/.*", func(_ string, r *eddy.ListenResponse) { _ = r.Accept() }, nil); err != nil {
				t.Fatal(err)
			}
			expectProviderChange(t, changes, true)
			// The last subscriber leaving tells nobody but the provider.
			if err := p2.Record.Unlisten("cars/.*"); err != nil {
				t.Fatal(err)
			}
			expectProviderChange(t, changes, false)
			rec.Discard()
		})
	}
}

func expectProviderChange(t *testing.T, ch <-chan bool, want bool) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("provider change %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no provider change to %v", want)
	}
}
