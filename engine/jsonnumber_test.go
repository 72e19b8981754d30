package engine_test

import (
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Numbers past a float64's range are refused as invalid data wherever a
// record is written, so no rule ever reads them as infinities.
func TestRecordNumbersOutOfRange(t *testing.T) {
	srv := enginetest.Start(t, nil)
	c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	for i, m := range []msg.Msg{
		{Action: fb.ActionPatch, Path: "speed", Data: []byte(`1e999`)},
		{Action: fb.ActionPatch, Path: "speed", Data: []byte(`[-1e400]`)},
		{Action: fb.ActionUpdate, Data: []byte(`{"speed":1e999}`)},
	} {
		m.Topic, m.ID, m.Name, m.Flags = fb.TopicRecord, uint64(i+1), "huge", fb.FlagsForced
		c.Send(&m)
		if v := expectError(t, c, protocol.CodeInvalidData); v.Id() != uint64(i+1) {
			t.Fatalf("error for %d, want %d", v.Id(), i+1)
		}
	}
	res := batch(t, srv, "", `[{"topic":"record","action":"write","recordName":"huge","data":{"speed":1e999}},
		{"topic":"record","action":"write","recordName":"huge","path":"speed","data":-1e999}]`)
	for i, r := range res.Body {
		if r.Success || r.Error != "InvalidData" {
			t.Fatalf("POST /api message %d: %+v", i, r)
		}
	}
	// Numbers in range are kept as written.
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 9, Name: "huge", Flags: fb.FlagsForced | fb.FlagsWantAck, Data: []byte(`{"speed":1.7976931348623157e308,"tiny":1e-999}`)})
	c.Expect(fb.TopicRecord, fb.ActionWriteAck)
}
