package engine_test

import (
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Only the Forced flag forces a write: version -1 is a version like any
// other, checked against the record's, and needs the record read first.
func TestVersionMinusOneIsNotForced(t *testing.T) {
	srv := enginetest.Start(t, nil)
	w := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	w.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 1, Name: "v", Flags: fb.FlagsForced | fb.FlagsWantAck, Data: []byte(`{"n":1}`)})
	w.Expect(fb.TopicRecord, fb.ActionWriteAck)

	// Never read: the read requirement holds.
	c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 2, Name: "v", Version: -1, HasVersion: true, Path: "n", Data: []byte(`2`), Flags: fb.FlagsWantAck})
	expectError(t, c, protocol.CodeNotSubscribed)

	// Read: the version check holds, and so does the hold after a refusal.
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 3, Name: "v"})
	if v := c.Expect(fb.TopicRecord, fb.ActionReadResult); v.Version() != 1 {
		t.Fatalf("read version %d", v.Version())
	}
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 4, Name: "v", Version: -1, HasVersion: true, Path: "n", Data: []byte(`3`), Flags: fb.FlagsWantAck})
	if v := c.Expect(fb.TopicRecord, fb.ActionVersionExists); v.Version() != 1 {
		t.Fatalf("version -1 answered with version %d", v.Version())
	}
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 5, Name: "v", Version: 2, HasVersion: true, Path: "n", Data: []byte(`4`), Flags: fb.FlagsWantAck})
	c.Expect(fb.TopicRecord, fb.ActionVersionExists)
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 6, Name: "v", Version: 2, HasVersion: true, Path: "n", Data: []byte(`5`), Flags: fb.FlagsWantAck | fb.FlagsRebased})
	if v := c.Expect(fb.TopicRecord, fb.ActionWriteAck); v.Version() != 2 {
		t.Fatalf("rebased write version %d", v.Version())
	}
	// On a record that does not exist yet, version -1 is not the next one.
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSubscribe, ID: 7, Name: "fresh"})
	c.Expect(fb.TopicRecord, fb.ActionAck)
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 8, Name: "fresh", Version: -1, HasVersion: true, Data: []byte(`{}`), Flags: fb.FlagsWantAck})
	expectError(t, c, protocol.CodeInvalidVersion)
}
