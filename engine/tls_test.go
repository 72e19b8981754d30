package engine_test

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// TestTLS: with net.tls set, both listeners speak TLS: a raw TCP client
// over TLS and a WebSocket client over wss:// (gorilla/websocket) exchange
// events, and a client that does not speak TLS gets nothing.
func TestTLS(t *testing.T) {
	cert, key, roots := enginetest.TLSFiles(t)
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Net.Backend = "" // TLS picks stdnet
		o.Net.TLS = engine.TLSOptions{Cert: cert, Key: key}
	})
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}

	raw := enginetest.DialTLS(t, srv.TCPAddr(), cfg).Open()
	raw.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 1, Name: "secure"})
	raw.Expect(fb.TopicEvent, fb.ActionAck)

	d := websocket.Dialer{TLSClientConfig: cfg, HandshakeTimeout: 5 * time.Second, EnableCompression: true}
	wsc, _, err := d.Dial("wss://"+srv.WSAddr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wsc.Close() })
	gOpen(t, wsc)
	gSend(t, wsc, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: "secure"})
	gExpect(t, wsc, fb.TopicEvent, fb.ActionAck)

	big := `"` + strings.Repeat("tls", 30000) + `"` // several TLS records
	gSend(t, wsc, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "secure", Data: []byte(big)})
	if v := raw.Expect(fb.TopicEvent, fb.ActionEmit); string(v.DataBytes()) != big {
		t.Fatalf("tls client got %d bytes", len(v.DataBytes()))
	}
	raw.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "secure", Data: []byte(`{"from":"tls"}`)})
	if v := gExpect(t, wsc, fb.TopicEvent, fb.ActionEmit); string(v.DataBytes()) != `{"from":"tls"}` {
		t.Fatalf("wss client got %q", v.DataBytes())
	}

	// A plain client's frame is not a TLS handshake: the server hangs up
	// without answering.
	plain, err := net.Dial("tcp", srv.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	hello := frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: "eddy", Version: 1}))
	if _, err := plain.Write(hello); err != nil {
		t.Fatal(err)
	}
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, err := plain.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("a plain client was not hung up on")
			}
			break
		}
		// A TLS alert may come first; never an Eddy frame.
		if p, m, _ := frame.Next(buf[:n], 1<<20); m > 0 {
			var v msg.View
			if v.Reset(p) == nil {
				t.Fatalf("plain client got an Eddy message %v", v.Action())
			}
		}
	}
}

func TestTLSOptionsValidate(t *testing.T) {
	cert, key, _ := enginetest.TLSFiles(t)
	cases := map[string]struct {
		mutate func(*engine.Options)
		want   string
	}{
		"unknown backend": {func(o *engine.Options) { o.Net.Backend = "epoll" }, `net.backend: "epoll" is not one of: gnet, netpoll, stdnet`},
		"tls on gnet":     {func(o *engine.Options) { o.Net.Backend = "gnet"; o.Net.TLS = engine.TLSOptions{Cert: cert, Key: key} }, "net.tls: TLS is served by the stdnet back-end only"},
		"tls on netpoll": {func(o *engine.Options) {
			o.Net.Backend = "netpoll"
			o.Net.TLS = engine.TLSOptions{Cert: cert, Key: key}
		}, "net.tls: TLS is served by the stdnet back-end only"},
		"cert without key": {func(o *engine.Options) { o.Net.TLS.Cert = cert }, "net.tls: cert and key must be set together"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var o engine.Options
			o.Store.Engine = "memory"
			tc.mutate(&o)
			_, err := engine.New(o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("tls defaults to stdnet", func(t *testing.T) {
		var o engine.Options
		o.Net.TLS = engine.TLSOptions{Cert: cert, Key: key}
		o.EnsureDefaults()
		if o.Net.Backend != "stdnet" {
			t.Fatalf("backend %q", o.Net.Backend)
		}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unreadable key pair", func(t *testing.T) {
		o := engine.Options{}
		o.Net.WSAddr, o.Net.TCPAddr, o.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0", "off"
		o.Store.Engine = "memory"
		o.Net.TLS = engine.TLSOptions{Cert: key, Key: cert} // swapped
		srv, err := engine.New(o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err == nil || !strings.Contains(err.Error(), "net.tls") {
			t.Fatalf("start: %v", err)
		}
	})
}
