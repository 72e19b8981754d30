// Command interop is the Go half of the JavaScript SDK's interoperability
// test (sdk-js/test/interop.test.mjs). It connects to the server named by
// -addr with the Go SDK, plays its side of the scenario and reports each
// step as one JSON object per line on stdout, which the JavaScript test
// reads:
//
//	{"step":"ready"}                      subscribed to interop/to-go
//	{"step":"echoed","data":<event>}      got an event from JavaScript and
//	                                      emitted {"from":"go","echo":<event>}
//	                                      on interop/to-js
//	{"step":"error","error":"..."}        something failed (exit status 1)
//
// It exits after the last step, or fails after -timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"time"

	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

type report struct {
	Step  string          `json:"step"`
	Data  json.RawMessage `json:"data,omitempty"`
	Error string          `json:"error,omitempty"`
}

var out = json.NewEncoder(os.Stdout)

func main() {
	addr := flag.String("addr", "", "server WebSocket address, ws://host:port")
	timeout := flag.Duration("timeout", 15*time.Second, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *addr); err != nil {
		_ = out.Encode(report{Step: "error", Error: err.Error()})
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string) error {
	if addr == "" {
		return errors.New("interop: -addr is required")
	}
	c, err := eddy.Dial(ctx, addr, eddy.WithAuth(map[string]string{"username": "gopher"}))
	if err != nil {
		return err
	}
	defer c.Close()

	got := make(chan json.RawMessage, 1)
	sub, err := c.Event.SubscribeCtx(ctx, "interop/to-go", func(data []byte) {
		select {
		case got <- append(json.RawMessage(nil), data...):
		default:
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := out.Encode(report{Step: "ready"}); err != nil {
		return err
	}

	var data json.RawMessage
	select {
	case data = <-got:
	case <-ctx.Done():
		return errors.New("interop: no event from the JavaScript client")
	}
	reply := struct {
		From string          `json:"from"`
		Echo json.RawMessage `json:"echo"`
	}{"go", data}
	if err := c.Event.EmitJSON("interop/to-js", reply); err != nil {
		return err
	}
	return out.Encode(report{Step: "echoed", Data: data})
}
