package session

import (
	"net"
	"testing"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

type nopTransport struct{}

func (t *nopTransport) Write([]byte) error   { return nil }
func (t *nopTransport) Buffered() int        { return 0 }
func (t *nopTransport) Wake()                {}
func (t *nopTransport) Close()               {}
func (t *nopTransport) RemoteAddr() net.Addr { return &net.TCPAddr{} }

// TestNoLeakAfterManyConnections opens 100k connections in turn, each
// subscribing to a few events, and closes them: every table must be empty
// and the connection count back to zero.
func TestNoLeakAfterManyConnections(t *testing.T) {
	events := event.New()
	m := NewManager(Config{Auth: Open{}, Events: events})
	srv := &netloop.Server{Handler: m}
	srv.Options.EnsureDefaults()
	var open []byte
	open = frame.Append(open, msg.Append(nil, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version}))
	open = frame.Append(open, msg.Append(nil, &msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1}))
	open = frame.Append(open, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Names: []string{"a", "b", "c"}}))
	n := 100000
	if testing.Short() {
		n = 10000
	}
	for i := 0; i < n; i++ {
		c := netloop.NewConn(srv, netloop.TCP, &nopTransport{})
		c.Open()
		if used := c.Feed(open); used != len(open) {
			t.Fatalf("consumed %d of %d bytes", used, len(open))
		}
		c.Flush()
		if i == 0 && events.Count("b") != 1 {
			t.Fatal("subscription not recorded")
		}
		c.Closed(nil)
	}
	if events.Len() != 0 {
		t.Fatalf("%d event names left", events.Len())
	}
	if m.Count() != 0 {
		t.Fatalf("%d sessions left", m.Count())
	}
	for i := range m.all {
		if len(m.all[i].m) != 0 {
			t.Fatalf("session shard %d not empty", i)
		}
	}
}
