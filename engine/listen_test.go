package engine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/engine/listen"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func listenTo(t *testing.T, c *enginetest.Client, pattern string) {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionListen, ID: 31, Name: pattern})
	if v := c.Expect(fb.TopicEvent, fb.ActionAck); v.Id() != 31 {
		t.Fatalf("listen ack id %d", v.Id())
	}
}

func subscribeEvent(t *testing.T, c *enginetest.Client, name string) {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 32, Name: name})
	c.Expect(fb.TopicEvent, fb.ActionAck)
}

func unsubscribeEvent(t *testing.T, c *enginetest.Client, name string) {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnsubscribe, ID: 33, Name: name})
	c.Expect(fb.TopicEvent, fb.ActionAck)
}

func expectListen(t *testing.T, c *enginetest.Client, action fb.Action, name, pattern string) {
	t.Helper()
	v := c.Expect(fb.TopicEvent, action)
	if string(v.Name()) != name || string(v.Path()) != pattern {
		t.Fatalf("%s name %q path %q, want %q %q", fb.EnumNamesAction[action], v.Name(), v.Path(), name, pattern)
	}
}

func answerListen(c *enginetest.Client, action fb.Action, name, pattern string) {
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: action, Name: name, Path: pattern})
}

func listenEmpty(t *testing.T, srv *engine.Server) {
	t.Helper()
	eventually(t, "listen registry empty", func() bool { return srv.EventListeners().Stats() == (listen.Stats{}) })
}

func TestListenAcceptAndRemoved(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			pattern := name + "/prices/.*"
			prov := userOn(t, srv, dial, "")
			listenTo(t, prov, pattern)
			a := userOn(t, srv, dial, "")
			b := userOn(t, srv, dial, "")
			subscribeEvent(t, a, name+"/prices/eur")
			expectListen(t, prov, fb.ActionSubscriptionFound, name+"/prices/eur", pattern)
			answerListen(prov, fb.ActionListenAccept, name+"/prices/eur", pattern)
			subscribeEvent(t, b, name+"/prices/eur")      // not the first
			subscribeEvent(t, a, "x/"+name+"/prices/eur") // the whole name must match
			quiet(t, prov)
			// The provider publishes; both subscribers get it.
			prov.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: name + "/prices/eur", Data: []byte(`1.1`)})
			a.Expect(fb.TopicEvent, fb.ActionEmit)
			b.Expect(fb.TopicEvent, fb.ActionEmit)
			unsubscribeEvent(t, a, name+"/prices/eur")
			quiet(t, prov)
			_ = b.Conn().Close() // the last subscriber leaves by disconnecting
			expectListen(t, prov, fb.ActionSubscriptionRemoved, name+"/prices/eur", pattern)
			// A subscription that exists when the listener registers is found.
			subscribeEvent(t, a, name+"/prices/usd")
			p2 := userOn(t, srv, dial, "")
			listenTo(t, p2, name+"/prices/usd|other")
			found := []string{}
			v := prov.Expect(fb.TopicEvent, fb.ActionSubscriptionFound)
			found = append(found, string(v.Name()))
			answerListen(prov, fb.ActionListenAccept, name+"/prices/usd", pattern)
			quiet(t, p2) // usd is provided already
			if !slices.Equal(found, []string{name + "/prices/usd"}) {
				t.Fatalf("found %q", found)
			}
			_ = prov.Conn().Close() // provider gone: the other listener is asked
			expectListen(t, p2, fb.ActionSubscriptionFound, name+"/prices/usd", name+"/prices/usd|other")
			answerListen(p2, fb.ActionListenAccept, name+"/prices/usd", name+"/prices/usd|other")
			_ = a.Conn().Close()
			expectListen(t, p2, fb.ActionSubscriptionRemoved, name+"/prices/usd", name+"/prices/usd|other")
			_ = p2.Conn().Close()
			listenEmpty(t, srv)
		})
	}
}

func TestListenRejectAndUnlisten(t *testing.T) {
	srv := enginetest.Start(t, nil)
	tcp, ws := transports["tcp"], transports["ws-deflate"]
	l1 := userOn(t, srv, tcp, "")
	l2 := userOn(t, srv, ws, "")
	listenTo(t, l1, "jobs/.*")
	listenTo(t, l2, "jobs/[0-9]+")
	sub := userOn(t, srv, tcp, "")
	subscribeEvent(t, sub, "jobs/1")
	// One of the two is asked; it rejects; the other is asked.
	first, second, fp, sp := l1, l2, "jobs/.*", "jobs/[0-9]+"
	got1, got2 := drain(t, l1), drain(t, l2)
	if len(got1) == 0 {
		first, second, fp, sp = l2, l1, "jobs/[0-9]+", "jobs/.*"
		got1, got2 = got2, got1
	}
	if !slices.Equal(got1, []string{"SubscriptionFound jobs/1 " + fp}) || len(got2) != 0 {
		t.Fatalf("asked first: %q, second: %q", got1, got2)
	}
	answerListen(first, fb.ActionListenReject, "jobs/1", fp)
	expectListen(t, second, fb.ActionSubscriptionFound, "jobs/1", sp)
	answerListen(second, fb.ActionListenReject, "jobs/1", sp)
	quiet(t, first) // nobody is asked twice
	quiet(t, second)

	// A new listener is asked; when it unlistens, a new round asks again.
	l3 := userOn(t, srv, tcp, "")
	listenTo(t, l3, "jobs/1")
	expectListen(t, l3, fb.ActionSubscriptionFound, "jobs/1", "jobs/1")
	answerListen(l3, fb.ActionListenAccept, "jobs/1", "jobs/1")
	quiet(t, l3)
	l3.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnlisten, ID: 40, Name: "jobs/1"})
	l3.Expect(fb.TopicEvent, fb.ActionAck)
	eventually(t, "one of the first two asked again", func() bool {
		got1 = append(got1[:0], drain(t, l1)...)
		got1 = append(got1, drain(t, l2)...)
		return len(got1) > 0
	})
	if len(got1) != 1 || (got1[0] != "SubscriptionFound jobs/1 jobs/.*" && got1[0] != "SubscriptionFound jobs/1 jobs/[0-9]+") {
		t.Fatalf("new round: %q", got1)
	}
	quiet(t, l1)
	quiet(t, l2)
	quiet(t, l3)
}

// drain returns, as "Action name path", everything c received before the
// answer to a ping sent now.
func drain(t *testing.T, c *enginetest.Client) []string {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 778})
	var out []string
	for {
		v, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPong && v.Id() == 778:
			return out
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPing:
		default:
			out = append(out, fb.EnumNamesAction[v.Action()]+" "+string(v.Name())+" "+string(v.Path()))
		}
	}
}

func TestListenErrors(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			c := userOn(t, srv, dial, "")
			c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionListen, ID: 1, Name: "prices/(.*"})
			if v := expectCode(t, c, fb.TopicEvent, fb.ActionError, protocol.CodeInvalidPattern); v.Id() != 1 {
				t.Fatalf("id %d", v.Id())
			}
			listenTo(t, c, "ok/.*")
			c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionListen, ID: 2, Name: "ok/.*"})
			expectCode(t, c, fb.TopicEvent, fb.ActionError, protocol.CodeAlreadyListening)
			c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnlisten, ID: 3, Name: "nope"})
			expectCode(t, c, fb.TopicEvent, fb.ActionError, protocol.CodeNotListening)
			answerListen(c, fb.ActionListenAccept, "x", "nope")
			expectCode(t, c, fb.TopicEvent, fb.ActionError, protocol.CodeNotListening)
			// Accepting a name nobody asked it about: told to stop at once.
			answerListen(c, fb.ActionListenAccept, "ok/1", "ok/.*")
			expectListen(t, c, fb.ActionSubscriptionRemoved, "ok/1", "ok/.*")
			c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnlisten, ID: 4, Name: "ok/.*"})
			c.Expect(fb.TopicEvent, fb.ActionAck)
			quiet(t, c)
		})
	}
	listenEmpty(t, srv)
}

// Patterns are bounded: one that compiles to a huge program is refused at
// once, and a connection's patterns are limited by session.maxListens.
func TestListenPatternBounds(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) { o.Session.MaxListens = 3 })
	c := userOn(t, srv, transports["tcp"], "")
	start := time.Now()
	var alt []string
	for ch := 'a'; ch < 'a'+20; ch++ {
		alt = append(alt, string(ch)+"{999}")
	}
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionListen, ID: 40, Name: strings.Join(alt, "|")}) // 141 bytes, 20,005 instructions
	if v := expectCode(t, c, fb.TopicEvent, fb.ActionError, protocol.CodeInvalidPattern); !strings.Contains(string(v.Reason()), "instructions") {
		t.Fatalf("reason %q", v.Reason())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusing the pattern took %s", d)
	}
	for i := 0; i < 3; i++ {
		listenTo(t, c, fmt.Sprintf("p%d/.*", i))
	}
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionListen, ID: 41, Name: "p3/.*"})
	expectCode(t, c, fb.TopicEvent, fb.ActionError, protocol.CodeTooManySubscriptions)
	// Unlistening makes room again.
	unlisten := &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnlisten, ID: 42, Name: "p0/.*"}
	c.Send(unlisten)
	c.Expect(fb.TopicEvent, fb.ActionAck)
	listenTo(t, c, "p3/.*")
}
