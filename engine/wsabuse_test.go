package engine_test

import (
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// pingFlood sends mb MiB of 125-byte pings on c without reading anything,
// then a frame that makes the server answer (the handshake, or a
// subscription when logged in) and reads up to that answer. It returns how
// many pong bytes came before it, or -1 when the server closed the
// connection first (as a slow consumer).
func pingFlood(t *testing.T, c *enginetest.Client, mb int, logged bool) int {
	t.Helper()
	conn := c.Conn()
	mask := [4]byte{9, 8, 7, 6}
	ping := ws.AppendFrame(nil, ws.OpPing, make([]byte, 125), false, &mask)
	batch := make([]byte, 0, 64<<10)
	for len(batch)+len(ping) <= cap(batch) {
		batch = append(batch, ping...)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for sent := 0; sent < mb<<20; sent += len(batch) {
		if _, err := conn.Write(batch); err != nil {
			return -1 // closed by the server while we flooded
		}
	}
	var m msg.Msg
	if logged {
		m = msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 7, Name: "after-the-flood"}
	} else {
		m = msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version}
	}
	if _, err := conn.Write(ws.AppendFrame(nil, ws.OpBinary, msg.Append(nil, &m), false, &mask)); err != nil {
		return -1
	}
	// Read frames by hand: the client's parser skips control frames.
	p := ws.Parser{MaxMessage: 1 << 20, Client: true}
	var buf []byte
	tmp := make([]byte, 64<<10)
	pongs := 0
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		f, n, err := p.Next(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			k, err := conn.Read(tmp)
			if k == 0 && err != nil {
				return -1
			}
			buf = append(buf, tmp[:k]...)
			continue
		}
		buf = buf[n:]
		switch f.Op {
		case ws.OpPong:
			pongs += len(f.Payload) + 2
		case ws.OpClose:
			return -1
		case ws.OpBinary:
			var v msg.View
			if err := v.Reset(f.Payload); err != nil {
				t.Fatal(err)
			}
			if v.Action() == fb.ActionClose {
				return -1
			}
			if v.Action() == fb.ActionHandshakeAck || v.Action() == fb.ActionAck {
				return pongs
			}
		}
	}
}

// A WebSocket client that pings and never reads holds at most one pending
// pong and the outbound cap on the server, logged in or not.
func TestWSPingFlood(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, func(o *engine.Options) { o.Net.MaxQueue = 1 << 20 }))
		for _, logged := range []bool{false, true} {
			c := enginetest.DialWS(t, srv.WSAddr(), false)
			if logged {
				c.Open()
			}
			// 32 MiB of pings is 32 MiB of pongs when each gets its own;
			// what is queued for us, server and kernel buffers together,
			// must stay far below that.
			pongs := pingFlood(t, c, 32, logged)
			t.Logf("logged in %v: %d pong bytes queued before the answer (-1: closed as a slow consumer)", logged, pongs)
			if pongs > 12<<20 {
				t.Fatalf("logged in %v: %d bytes of pongs were queued", logged, pongs)
			}
			// Another client is served meanwhile.
			enginetest.DialWS(t, srv.WSAddr(), false).Open()
		}
	})
}
