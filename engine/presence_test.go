package engine_test

import (
	"slices"
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/engine/presence"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func presenceSub(t *testing.T, c *enginetest.Client, names ...string) {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionSubscribe, ID: 11, Names: names})
	if v := c.Expect(fb.TopicPresence, fb.ActionAck); v.Id() != 11 {
		t.Fatalf("ack id %d", v.Id())
	}
}

func expectPresence(t *testing.T, c *enginetest.Client, action fb.Action, user string) {
	t.Helper()
	if v := c.Expect(fb.TopicPresence, action); string(v.User()) != user {
		t.Fatalf("%s for %q, want %q", fb.EnumNamesAction[action], v.User(), user)
	}
}

func queryAll(t *testing.T, c *enginetest.Client) []string {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQuery, ID: 21})
	v := c.Expect(fb.TopicPresence, fb.ActionQueryResult)
	if v.Id() != 21 {
		t.Fatalf("query id %d", v.Id())
	}
	var out []string
	for i := 0; i < v.NamesLength(); i++ {
		out = append(out, string(v.NamesAt(i)))
	}
	return out
}

func presenceEmpty(t *testing.T, srv *engine.Server) {
	t.Helper()
	eventually(t, "presence table empty", func() bool { return srv.Presence().Stats() == (presence.Stats{}) })
}

func TestPresenceCountsUsersNotConnections(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			watcher := userOn(t, srv, dial, "watcher-"+name)
			presenceSub(t, watcher)
			ann := "ann-" + name
			var conns []*enginetest.Client
			for i := 0; i < 3; i++ {
				conns = append(conns, userOn(t, srv, dial, ann))
			}
			expectPresence(t, watcher, fb.ActionJoin, ann)
			quiet(t, watcher) // once, not three times
			if got := queryAll(t, watcher); !slices.Contains(got, ann) || slices.Contains(got, "watcher-"+name) {
				t.Fatalf("online %q", got)
			}
			_ = conns[0].Conn().Close()
			_ = conns[1].Conn().Close()
			eventually(t, "two connections gone", func() bool { return srv.Connections() <= 2+1 })
			quiet(t, watcher) // ann still has a connection
			if got := queryAll(t, watcher); !slices.Contains(got, ann) {
				t.Fatalf("online %q", got)
			}
			_ = conns[2].Conn().Close()
			expectPresence(t, watcher, fb.ActionLeave, ann)
			if got := queryAll(t, watcher); slices.Contains(got, ann) {
				t.Fatalf("online after leaving %q", got)
			}
			_ = watcher.Conn().Close()
			presenceEmpty(t, srv)
		})
	}
}

func TestPresenceSelfAndAnonymous(t *testing.T) {
	srv := enginetest.Start(t, nil)
	tcp := transports["tcp"]
	ann1 := userOn(t, srv, tcp, "ann")
	presenceSub(t, ann1)
	bob := userOn(t, srv, tcp, "bob")
	presenceSub(t, bob)
	expectPresence(t, ann1, fb.ActionJoin, "bob")
	anon := userOn(t, srv, tcp, "")
	presenceSub(t, anon)
	ann2 := userOn(t, srv, transports["ws"], "ann") // ann's second connection
	quiet(t, ann1)                                  // not told about itself
	quiet(t, bob)                                   // ann was online already
	_ = ann2
	userOn(t, srv, tcp, "") // an anonymous login is nobody
	quiet(t, anon)
	quiet(t, bob)
	if got := queryAll(t, ann1); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("ann sees %q", got)
	}
	if got := queryAll(t, anon); !slices.Equal(got, []string{"ann", "bob"}) {
		t.Fatalf("anonymous sees %q", got)
	}
	_ = bob.Conn().Close()
	expectPresence(t, ann1, fb.ActionLeave, "bob")
	expectPresence(t, anon, fb.ActionLeave, "bob")
}

func TestPresenceQueryByName(t *testing.T) {
	srv := enginetest.Start(t, nil)
	userOn(t, srv, transports["tcp"], "ann")
	c := userOn(t, srv, transports["ws"], "")
	c.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQuery, ID: 5, Names: []string{"ann", "zed"}})
	v := c.Expect(fb.TopicPresence, fb.ActionQueryResult)
	if v.Id() != 5 || string(v.DataBytes()) != `{"ann":true,"zed":false}` {
		t.Fatalf("id %d data %s", v.Id(), v.DataBytes())
	}
	c.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQuery, ID: 6, Name: "ann"})
	if v := c.Expect(fb.TopicPresence, fb.ActionQueryResult); string(v.DataBytes()) != `{"ann":true}` {
		t.Fatalf("data %s", v.DataBytes())
	}
	c.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQuery, ID: 7, Names: []string{"ok", ""}})
	expectCode(t, c, fb.TopicPresence, fb.ActionError, protocol.CodeInvalidName)
}

func TestPresenceSubscribeToUsers(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			ann, bob := "ann-"+name, "bob-"+name
			w := userOn(t, srv, dial, "")
			presenceSub(t, w, ann)
			b := userOn(t, srv, dial, bob)
			a := userOn(t, srv, dial, ann)
			expectPresence(t, w, fb.ActionJoin, ann) // not bob
			quiet(t, w)
			// Everyone plus ann: each event still comes once.
			presenceSub(t, w)
			_ = a.Conn().Close()
			expectPresence(t, w, fb.ActionLeave, ann)
			quiet(t, w)
			// Back to ann only.
			w.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionUnsubscribe, ID: 8})
			w.Expect(fb.TopicPresence, fb.ActionAck)
			_ = b.Conn().Close()
			eventually(t, "bob gone", func() bool { return !srv.Presence().Online(bob) })
			a = userOn(t, srv, dial, ann)
			expectPresence(t, w, fb.ActionJoin, ann)
			w.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionUnsubscribe, ID: 9, Name: ann})
			w.Expect(fb.TopicPresence, fb.ActionAck)
			_ = a.Conn().Close()
			eventually(t, "ann gone", func() bool { return !srv.Presence().Online(ann) })
			quiet(t, w)
			_ = w.Conn().Close()
			presenceEmpty(t, srv)
		})
	}
}

func TestPresenceSubscriptionLimit(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) { o.Session.MaxSubscriptions = 2 })
	c := userOn(t, srv, transports["tcp"], "")
	presenceSub(t, c, "ann")
	presenceSub(t, c)
	presenceSub(t, c, "ann") // already subscribed: no new room needed
	presenceSub(t, c)
	c.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionSubscribe, ID: 12, Name: "bob"})
	expectCode(t, c, fb.TopicPresence, fb.ActionError, protocol.CodeTooManySubscriptions)
	c.Send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionUnsubscribe, ID: 13, Name: "ann"})
	c.Expect(fb.TopicPresence, fb.ActionAck)
	presenceSub(t, c, "bob")
}
