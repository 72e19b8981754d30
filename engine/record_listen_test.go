package engine_test

import (
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func recListen(c *enginetest.Client, action fb.Action, id uint64, name, pattern string) {
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: action, ID: id, Name: name, Path: pattern})
}

func expectProvider(t *testing.T, c *enginetest.Client, name string, has bool) {
	t.Helper()
	v := c.Expect(fb.TopicRecord, fb.ActionSubscriptionHasProvider)
	if string(v.Name()) != name || (v.Version() == 1) != has {
		t.Fatalf("has-provider %q = %d, want %v", v.Name(), v.Version(), has)
	}
}

// TestRecordListening: a provider is asked when a matching record gets its
// first subscriber, subscribers learn whether it has an active provider,
// a reject asks the next listener, and a provider that leaves is replaced.
func TestRecordListening(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			rn := "cars/" + name
			p1 := dial(t, srv).Open()
			p1.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionListen, ID: 1, Name: "cars/.*"})
			p1.Expect(fb.TopicRecord, fb.ActionAck)

			s1 := dial(t, srv).Open()
			s1.Send(rec(fb.ActionRead, 2, rn))
			s1.Expect(fb.TopicRecord, fb.ActionReadResult)
			if v := p1.Expect(fb.TopicRecord, fb.ActionSubscriptionFound); string(v.Name()) != rn || v.PathString() != "cars/.*" {
				t.Fatalf("found %q under %q", v.Name(), v.Path())
			}
			recListen(p1, fb.ActionListenAccept, 0, rn, "cars/.*")
			expectProvider(t, s1, rn, true)

			// A later subscriber is told at once.
			s2 := dial(t, srv).Open()
			s2.Send(rec(fb.ActionRead, 3, rn))
			s2.Expect(fb.TopicRecord, fb.ActionReadResult)
			expectProvider(t, s2, rn, true)

			// The provider leaves: subscribers hear it, the next listener is
			// asked; it rejects, so nobody provides; a third accepts.
			p2 := dial(t, srv).Open()
			p2.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionListen, ID: 4, Name: "cars/.*"})
			p2.Expect(fb.TopicRecord, fb.ActionAck)
			_ = p1.Conn().Close()
			expectProvider(t, s1, rn, false)
			expectProvider(t, s2, rn, false)
			p2.Expect(fb.TopicRecord, fb.ActionSubscriptionFound)
			recListen(p2, fb.ActionListenReject, 0, rn, "cars/.*")
			p3 := dial(t, srv).Open()
			p3.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionListen, ID: 5, Name: "cars/.*"})
			p3.Expect(fb.TopicRecord, fb.ActionAck)
			p3.Expect(fb.TopicRecord, fb.ActionSubscriptionFound)
			recListen(p3, fb.ActionListenAccept, 0, rn, "cars/.*")
			expectProvider(t, s1, rn, true)
			expectProvider(t, s2, rn, true)

			// The last subscriber leaving tells the provider to stop.
			for i, s := range []*enginetest.Client{s1, s2} {
				s.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUnsubscribe, ID: uint64(10 + i), Name: rn})
				s.Expect(fb.TopicRecord, fb.ActionAck)
			}
			if v := p3.Expect(fb.TopicRecord, fb.ActionSubscriptionRemoved); string(v.Name()) != rn {
				t.Fatalf("removed %q", v.Name())
			}
		})
	}
	if st := srv.RecordListeners().Stats(); st.Names != 0 || st.Providers != 0 {
		t.Fatalf("record listen state left: %+v", st)
	}
}
