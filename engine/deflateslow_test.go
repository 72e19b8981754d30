package engine_test

import (
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// dialDeflateStalled opens a WebSocket with permessage-deflate and a 4 KiB
// receive buffer, logs in, subscribes to event name and then never reads.
func dialDeflateStalled(t *testing.T, addr, name string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	key := ws.NewKey()
	if _, err := conn.Write(ws.AppendRequest(nil, addr, "/", key, true, nil)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	tmp := make([]byte, 4096)
	read := func() {
		n, err := conn.Read(tmp)
		if n == 0 {
			t.Fatal(err)
		}
		buf = append(buf, tmp[:n]...)
	}
	for {
		negotiated, n, err := ws.ParseResponse(buf, key)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if !negotiated {
				t.Fatal("permessage-deflate not negotiated")
			}
			buf = buf[n:]
			break
		}
		read()
	}
	mask := [4]byte{1, 2, 3, 4}
	p := ws.Parser{MaxMessage: 1 << 20, Client: true, Deflate: true}
	send := func(m *msg.Msg) {
		if _, err := conn.Write(ws.AppendFrame(nil, ws.OpBinary, msg.Append(nil, m), false, &mask)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(action fb.Action) {
		for {
			f, n, err := p.Next(buf)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				read()
				continue
			}
			buf = buf[n:]
			if f.Op != ws.OpBinary {
				continue
			}
			var v msg.View
			if err := v.Reset(f.Payload); err != nil {
				t.Fatal(err)
			}
			if v.Action() == action {
				return
			}
		}
	}
	send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
	expect(fb.ActionHandshakeAck)
	send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1})
	expect(fb.ActionLoginResult)
	send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: name})
	expect(fb.ActionAck)
	return conn
}

// A deflate subscriber that stops reading is cut off once it is about
// net.maxQueue behind in the messages' own size, however well they
// compress: counting only the compressed bytes the server queued let it
// fall behind by the kernel buffers times the compression ratio and more
// (80 MB for a 1 MiB cap, here).
func TestDeflateSlowConsumerCountsWhatItIsBehindBy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		const maxQueue = 1 << 20
		srv := enginetest.Start(t, on(backend, func(o *engine.Options) { o.Net.MaxQueue = maxQueue }))
		dialDeflateStalled(t, srv.WSAddr(), "squeezed")
		pub := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		// 8 KiB events that deflate about 25 to 1: a 256-byte random
		// pattern repeated.
		pattern := make([]byte, 256)
		for i := range pattern {
			pattern[i] = 'a' + byte(rand.IntN(26))
		}
		data := []byte{'"'}
		for len(data) < 8<<10 {
			data = append(data, pattern...)
		}
		data = append(data, '"')
		var chunk []byte
		for range 16 {
			chunk = frame.Append(chunk, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "squeezed", Data: data}))
		}
		// What the server queues and what the kernel holds for the peer
		// count at the messages' size; the client's 4 KiB receive buffer
		// and the flush in progress add a little.
		const bound = 8 << 20
		published := 0
		for srv.Connections() == 2 {
			if published > bound {
				t.Fatalf("the stalled deflate subscriber is still connected after %d MiB published", published>>20)
			}
			if _, err := pub.Conn().Write(chunk); err != nil {
				t.Fatal(err)
			}
			published += 16 * len(data)
			// Wait for the server to have handled the chunk: a subscribe
			// round trip on the publisher.
			pub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: uint64(published), Name: "sync"})
			pub.Expect(fb.TopicEvent, fb.ActionAck)
		}
		t.Logf("cut off after %d KiB published", published>>10)
	})
}
