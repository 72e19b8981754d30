// Command interop is the Go half of the JavaScript SDK's interoperability
// test (sdk-js/test/interop.test.mjs). It connects to the server named by
// -addr with the Go SDK as user "gopher", plays its side of the scenario and
// reports each step as one JSON object per line on stdout, which the
// JavaScript test reads:
//
//	{"step":"ready"}                    subscribed to interop/to-go and
//	                                    interop/bye, providing interop/go-add
//	{"step":"echoed","data":<event>}    got an event from JavaScript on
//	                                    interop/to-go and emitted
//	                                    {"from":"go","echo":<event>} on
//	                                    interop/to-js
//	{"step":"rpc","data":<result>}      the answer of the JavaScript provider
//	                                    of interop/js-mul to {"a":6,"b":7}
//	{"step":"presence","data":{...}}    presence of users "js" and "nobody"
//	{"step":"record-written"}           set fromGo = {"lang":"go","n":1} in
//	                                    record interop/shared (acknowledged)
//	{"step":"record","data":<value>}    the value JavaScript set at fromJs
//	{"step":"final","data":{"version":v,"doc":<document>}}
//	                                    the Go copy of interop/shared after
//	                                    interop/bye arrived
//	{"step":"done"}                     exits with status 0
//	{"step":"error","error":"..."}      something failed; exits with status 1
//
// interop/go-add answers {"a":x,"b":y} with {"sum":x+y,"by":"go"}. The
// program fails after -timeout.
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
	Step  string `json:"step"`
	Data  any    `json:"data,omitempty"`
	Error string `json:"error,omitempty"`
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

// latest returns a callback that keeps the newest event data in ch.
func latest(ch chan json.RawMessage) func(data []byte) {
	return func(data []byte) {
		select {
		case ch <- append(json.RawMessage(nil), data...):
		default:
		}
	}
}

func wait(ctx context.Context, ch chan json.RawMessage, what string) (json.RawMessage, error) {
	select {
	case d := <-ch:
		return d, nil
	case <-ctx.Done():
		return nil, errors.New("interop: timed out waiting for " + what)
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

	toGo, bye := make(chan json.RawMessage, 1), make(chan json.RawMessage, 1)
	if _, err := c.Event.SubscribeCtx(ctx, "interop/to-go", latest(toGo)); err != nil {
		return err
	}
	if _, err := c.Event.SubscribeCtx(ctx, "interop/bye", latest(bye)); err != nil {
		return err
	}
	err = c.RPC.Provide("interop/go-add", func(q *eddy.RPCRequest) {
		var in struct{ A, B float64 }
		if err := json.Unmarshal(q.Data(), &in); err != nil {
			_ = q.Error("interop/go-add: " + err.Error())
			return
		}
		_ = q.Respond(ctx, map[string]any{"sum": in.A + in.B, "by": "go"})
	})
	if err != nil {
		return err
	}
	if err := out.Encode(report{Step: "ready"}); err != nil {
		return err
	}

	data, err := wait(ctx, toGo, "an event from the JavaScript client")
	if err != nil {
		return err
	}
	reply := struct {
		From string          `json:"from"`
		Echo json.RawMessage `json:"echo"`
	}{"go", data}
	if err := c.Event.EmitJSON("interop/to-js", reply); err != nil {
		return err
	}
	if err := out.Encode(report{Step: "echoed", Data: data}); err != nil {
		return err
	}

	product, err := c.RPC.Make(ctx, "interop/js-mul", map[string]int{"a": 6, "b": 7})
	if err != nil {
		return err
	}
	if err := out.Encode(report{Step: "rpc", Data: product}); err != nil {
		return err
	}

	online, err := c.Presence.Get(ctx, []string{"js", "nobody"})
	if err != nil {
		return err
	}
	if err := out.Encode(report{Step: "presence", Data: online}); err != nil {
		return err
	}

	rec, err := c.Record.Get(ctx, "interop/shared")
	if err != nil {
		return err
	}
	defer rec.Discard()
	if err := rec.SetWithAck(ctx, "fromGo", map[string]any{"lang": "go", "n": 1}); err != nil {
		return err
	}
	if err := out.Encode(report{Step: "record-written"}); err != nil {
		return err
	}
	fromJS := make(chan json.RawMessage, 1)
	stop := rec.SubscribeNow("fromJs", func(v json.RawMessage) {
		if v != nil {
			latest(fromJS)(v)
		}
	})
	defer stop()
	value, err := wait(ctx, fromJS, "fromJs in interop/shared")
	if err != nil {
		return err
	}
	if err := out.Encode(report{Step: "record", Data: value}); err != nil {
		return err
	}

	if _, err := wait(ctx, bye, "interop/bye"); err != nil {
		return err
	}
	final := map[string]any{"version": rec.Version(), "doc": rec.Get("")}
	if err := out.Encode(report{Step: "final", Data: final}); err != nil {
		return err
	}
	return out.Encode(report{Step: "done"})
}
