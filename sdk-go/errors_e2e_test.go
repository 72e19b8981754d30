package eddy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// TestErrorTextsSayAThingOnce collects the errors of common mistakes
// against the real server: each text names its operation and name once,
// says "eddy:" once and the code's meaning at most once.
func TestErrorTextsSayAThingOnce(t *testing.T) {
	srv := enginetest.Start(t, nil)
	c := dial(t, addrOf(srv, "tcp"))
	ctx := ctxFor(t, 10*time.Second)

	type failure struct {
		name  string // the name the call was about, said once
		code  protocol.Code
		err   error
		quote bool // the detail quotes the name too (a regexp parse error quotes what it could not parse)
	}
	var got []failure
	_, err := c.RPC.Make(ctx, "no-such-rpc", 1)
	got = append(got, failure{"no-such-rpc", protocol.CodeNoRpcProvider, err, false})
	err = c.Event.Listen("[unclosed", func(string, *eddy.ListenResponse) {}, nil)
	got = append(got, failure{"[unclosed", protocol.CodeInvalidPattern, err, true})
	_, err = c.Record.Snapshot(ctx, "no-such-record")
	got = append(got, failure{"no-such-record", protocol.CodeRecordNotFound, err, false})
	err = c.Event.Unlisten("never-listened")
	got = append(got, failure{"never-listened", protocol.CodeNotListening, err, false})
	err = c.Event.EmitAck(ctx, "bad-data", []byte("{"))
	got = append(got, failure{"bad-data", protocol.CodeInvalidData, err, false})
	r := recGet(t, c, "some-record")
	err = r.SetPath(ctx, "a..b", 1)
	got = append(got, failure{"some-record", protocol.CodeInvalidPath, err, false})

	for _, f := range got {
		if !errors.Is(f.err, &eddy.Error{Code: f.code}) {
			t.Errorf("%s: %v, want code %s", f.name, f.err, f.code)
			continue
		}
		msg := f.err.Error()
		if n := strings.Count(msg, f.name); n != 1 && !(f.quote && n == 2) {
			t.Errorf("%q names %q %d times", msg, f.name, n)
		}
		if n := strings.Count(msg, "eddy:"); n != 1 {
			t.Errorf("%q says eddy: %d times", msg, n)
		}
		if n := strings.Count(msg, f.code.Message()); n > 1 {
			t.Errorf("%q says %q %d times", msg, f.code.Message(), n)
		}
		for _, prefix := range []string{"Rpc Request", "Event Listen", "Record Snapshot", "jsonpath:"} {
			if strings.Contains(msg, prefix) {
				t.Errorf("%q repeats the wire's %q", msg, prefix)
			}
		}
	}

	// Wrapped client errors say "eddy:" once too.
	if _, err := eddy.Dial(ctx, "ftp://x"); err == nil || strings.Count(err.Error(), "bad address") != 1 || strings.Count(err.Error(), "eddy:") != 1 {
		t.Errorf("bad address: %v", err)
	}
	c.Close()
	if _, err := c.RPC.Make(ctx, "after-close", 1); err == nil || strings.Count(err.Error(), "eddy:") != 1 {
		t.Errorf("after Close: %v", err)
	}
}
