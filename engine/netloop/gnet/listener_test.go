package gnet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine/netloop"
)

type nopHandler struct{}

func (nopHandler) OnOpen(*netloop.Conn) error      { return nil }
func (nopHandler) OnMessage(*netloop.Conn, []byte) {}
func (nopHandler) OnClose(*netloop.Conn, error)    {}

// A listener that stops accepting while the engine runs is reported by
// Err, so /health stops saying "serving".
func TestListenerDownIsReported(t *testing.T) {
	srv := &netloop.Server{Handler: nopHandler{}, Listeners: []netloop.Listener{{Kind: netloop.TCP, Addr: "127.0.0.1:0"}}}
	e, err := Start(srv, Options{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	}()
	if err := e.Err(); err != nil {
		t.Fatalf("Err before: %v", err)
	}
	_ = e.lns[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for e.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a closed listener is not reported")
		}
		time.Sleep(time.Millisecond)
	}
	var le *netloop.ListenerError
	if !errors.As(e.Err(), &le) || le.Addr != e.Addrs()[0].String() {
		t.Fatalf("Err = %v", e.Err())
	}
}
