package eddy

import (
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
)

// FuzzOnMessage feeds arbitrary server messages to a client's router: it
// must never panic, whatever verifies.
func FuzzOnMessage(f *testing.F) {
	for _, m := range []*msg.Msg{
		{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "a", Data: []byte(`1`)},
		{Topic: fb.TopicEvent, Action: fb.ActionAck, ID: 1},
		{Topic: fb.TopicEvent, Action: fb.ActionError, ID: 2, Name: "a", Code: 30, Reason: "no"},
		{Topic: fb.TopicEvent, Action: fb.ActionError, Code: 16},
		{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: "r", Version: 3},
		{Topic: fb.Topic(200), Action: fb.Action(250)},
	} {
		f.Add(msg.Append(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v msg.View
		if v.Reset(b) != nil {
			return
		}
		c := newClient("tcp://127.0.0.1:1", defaultOptions(), nil)
		// A subscription and waiting requests for the message to hit.
		ent := &eventEntry{name: "a"}
		ent.subs = []*Subscription{{ev: c.Event, names: []string{"a"}, fn: func([]byte) {}}}
		c.Event.names["a"] = ent
		op := &subscribeOp{names: []string{"a", "b"}, done: make(chan struct{})}
		c.tracker.Add(nil, func(v *msg.View, err error) { c.Event.answered(op, v, err) })
		c.tracker.Add(nil, c.Event.backgroundAnswer("unsubscribe"))
		var cn *conn.Conn
		c.onMessage(cn, &v)
		c.tracker.Fail(nil, ErrClosed)
	})
}
