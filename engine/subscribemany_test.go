package engine_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// A record Subscribe with many names checks the names and the subscription
// limit before loading any record: only the names that may be subscribed
// are loaded, and a bad name gets its own code, not StorageError.
func TestRecordSubscribeManyNames(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Session.MaxSubscriptions = 100
		o.Session.MaxNameLength = 64
	})
	c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	names := make([]string, 45000)
	for i := range names {
		names[i] = "many/" + strconv.Itoa(i)
	}
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSubscribe, ID: 1, Names: names})
	v := c.Expect(fb.TopicRecord, fb.ActionError)
	if protocol.Code(v.Code()) != protocol.CodeTooManySubscriptions || string(v.Name()) != "many/100" {
		t.Fatalf("code %v name %q: %s", protocol.Code(v.Code()), v.Name(), v.Reason())
	}
	if n := srv.Records().Len(); n > 100 {
		t.Fatalf("%d records loaded for a subscription limit of 100", n)
	}

	for _, tc := range []struct {
		bad  string
		code protocol.Code
	}{{"", protocol.CodeInvalidName}, {"x\xff", protocol.CodeInvalidName}, {strings.Repeat("n", 65), protocol.CodeNameTooLong}} {
		d := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		before := srv.Records().Len()
		d.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSubscribe, ID: 2, Names: []string{"ok/1", "ok/2", tc.bad, "ok/3"}})
		v := d.Expect(fb.TopicRecord, fb.ActionError)
		if protocol.Code(v.Code()) != tc.code {
			t.Fatalf("name %q: code %v, want %v: %s", tc.bad, protocol.Code(v.Code()), tc.code, v.Reason())
		}
		if grew := srv.Records().Len() - before; grew > 2 {
			t.Fatalf("name %q: %d records loaded, the names after it too", tc.bad, grew)
		}
		// The names before the bad one are subscribed, as for events.
		w := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		w.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 3, Name: "ok/2", Flags: fb.FlagsForced, Data: []byte(`{"n":1}`)})
		d.Expect(fb.TopicRecord, fb.ActionUpdate)
	}
}
