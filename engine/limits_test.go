package engine_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/engine/internal/testlog"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func TestTimeouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, func(o *engine.Options) {
			o.Session.HandshakeTimeout = 150 * time.Millisecond
		}))
		t.Run("handshake", func(t *testing.T) {
			c := enginetest.DialTCP(t, srv.TCPAddr())
			c.Handshake() // but never log in
			if code := c.ExpectClose(); code != protocol.CodeHandshakeTimeout {
				t.Fatalf("close code %v", code)
			}
		})
		t.Run("heartbeat", func(t *testing.T) {
			// The default handshake timeout: a login slower than 150ms on a
			// loaded machine must not end this test early.
			srv := enginetest.Start(t, on(backend, func(o *engine.Options) {
				o.Session.Heartbeat = 50 * time.Millisecond
				o.Session.HeartbeatTimeout = 200 * time.Millisecond
			}))
			c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
			// The server pings; a client that never answers is closed.
			v, err := c.Next()
			if err != nil || v.Action() != fb.ActionPing {
				t.Fatalf("want a ping first: %v", err)
			}
			if code := c.ExpectClose(); code != protocol.CodeHeartbeatTimeout {
				t.Fatalf("close code %v", code)
			}
		})
		t.Run("answered heartbeats keep the connection", func(t *testing.T) {
			// A timeout of 200ms would cut off a test goroutine stalled that
			// long on a loaded machine; this server allows 1s and the test
			// answers pings for more than twice that.
			srv := enginetest.Start(t, on(backend, func(o *engine.Options) {
				o.Session.Heartbeat = 50 * time.Millisecond
				o.Session.HeartbeatTimeout = time.Second
			}))
			c := enginetest.DialWS(t, srv.WSAddr(), false).Open()
			deadline := time.Now().Add(2500 * time.Millisecond)
			for time.Now().Before(deadline) {
				v, err := c.Next()
				if err != nil {
					t.Fatalf("connection lost: %v", err)
				}
				if v.Action() == fb.ActionPing {
					c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()})
				}
			}
		})
	})
}

func TestLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, func(o *engine.Options) {
			o.Session.MaxNameLength = 16
			o.Session.MaxSubscriptions = 3
			o.Session.MaxConnections = 4
		}))
		c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 1, Name: strings.Repeat("n", 17)})
		if v := c.Expect(fb.TopicEvent, fb.ActionError); protocol.Code(v.Code()) != protocol.CodeNameTooLong || v.Id() != 1 {
			t.Fatalf("code %d", v.Code())
		}
		c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: ""})
		if v := c.Expect(fb.TopicEvent, fb.ActionError); protocol.Code(v.Code()) != protocol.CodeInvalidName {
			t.Fatalf("code %d", v.Code())
		}
		c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 3, Names: []string{"a", "b", "c", "d"}})
		v := c.Expect(fb.TopicEvent, fb.ActionError)
		if protocol.Code(v.Code()) != protocol.CodeTooManySubscriptions || string(v.Name()) != "d" {
			t.Fatalf("code %d name %q", v.Code(), v.Name())
		}
		if !strings.Contains(string(v.Reason()), "Event Subscribe d") {
			t.Fatalf("reason does not name topic, action and name: %q", v.Reason())
		}
		// Connection limit: four are allowed, the fifth is refused with a reason.
		for i := 0; i < 3; i++ {
			enginetest.DialTCP(t, srv.TCPAddr()).Open()
		}
		extra := enginetest.DialTCP(t, srv.TCPAddr())
		if code := extra.ExpectClose(); code != protocol.CodeTooManyConnections {
			t.Fatalf("close code %v", code)
		}
	})
}

// TestSlowConsumerIsCutOff: a subscriber that stops reading is closed when
// its queue fills, and the others keep receiving everything.
//
// The publisher sends in batches that the fast subscriber reads in full
// before the next, so the fast one is never far behind whatever the
// scheduler does, while the slow one's socket buffers and then its queue
// fill until it is cut off.
func TestSlowConsumerIsCutOff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var logged testlog.Buffer
		srv := enginetest.StartWithLogger(t, on(backend, func(o *engine.Options) { o.Net.MaxQueue = 256 << 10 }),
			slog.New(slog.NewTextHandler(&logged, nil)))
		fast := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		slow := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		_ = slow.Conn().(*net.TCPConn).SetReadBuffer(4096)
		for _, c := range []*enginetest.Client{fast, slow} {
			c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 1, Name: "flood"})
			c.Expect(fb.TopicEvent, fb.ActionAck)
		}
		pub := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		const batch = 64
		var chunk []byte
		for i := 0; i < batch; i++ {
			data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
			chunk = frame.Append(chunk, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "flood", Data: data}))
		}
		deadline := time.Now().Add(10 * time.Second)
		sent := 0
		for srv.Connections() != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections after %d bytes published; the slow consumer should have been closed", srv.Connections(), sent)
			}
			if sent > 8<<20 {
				// Far past any socket buffer: the slow one is being closed
				// (a back-end may give its queued bytes a grace period).
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := pub.Conn().Write(chunk); err != nil {
				t.Fatal(err)
			}
			sent += len(chunk)
			for i := 0; i < batch; i++ {
				fast.Expect(fb.TopicEvent, fb.ActionEmit)
			}
		}
		// The fast subscriber still gets everything.
		if _, err := pub.Conn().Write(chunk); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < batch; i++ {
			fast.Expect(fb.TopicEvent, fb.ActionEmit)
		}
		// The operator is told, once.
		if n := strings.Count(logged.String(), "slow consumer disconnected"); n != 1 {
			t.Fatalf("%d slow-consumer warnings logged, want 1:\n%s", n, logged.String())
		}
	})
}
