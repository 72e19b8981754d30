package eddy

import (
	"slices"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
)

// renewNames renews names on topic after a reconnect: bulk Subscribe
// messages, each within the largest frame. The server stops at the first
// name of a message it refuses: that one goes to the error handler (op
// names the operation) and to refused when set, and the names after it
// are sent again.
func (c *Client) renewNames(cn *conn.Conn, topic fb.Topic, op string, names []string, refused func(name string)) {
	// A name costs its bytes plus about 12 bytes of FlatBuffers framing.
	budget := c.opts.maxFrame - 256
	start, size := 0, 0
	for i, n := range names {
		if size+len(n)+12 > budget && i > start {
			c.sendSubscribe(cn, topic, op, names[start:i], refused)
			start, size = i, 0
		}
		size += len(n) + 12
	}
	c.sendSubscribe(cn, topic, op, names[start:], refused)
}

func (c *Client) sendSubscribe(cn *conn.Conn, topic fb.Topic, op string, names []string, refused func(string)) {
	if len(names) == 0 {
		return
	}
	id := c.tracker.Add(cn, func(v *msg.View, err error) {
		if err != nil || v.Action() != fb.ActionError {
			return
		}
		name := string(v.Name())
		c.reportError(&Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: op, Name: name})
		if refused != nil {
			refused(name)
		}
		if i := slices.Index(names, name); i >= 0 && cn.Err() == nil {
			c.sendSubscribe(cn, topic, op, names[i+1:], refused)
		}
	})
	m := msg.Msg{Topic: topic, Action: fb.ActionSubscribe, ID: id}
	setNames(&m, names)
	if cn.Send(&m) != nil {
		c.tracker.Cancel(id)
	}
}
