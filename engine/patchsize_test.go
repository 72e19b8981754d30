package engine_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// allocated runs f and returns the bytes the process allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A small patch whose path pads arrays to far indexes is refused with
// DocumentTooLarge before the document is built, over the wire and over
// POST /api, and another client is served meanwhile.
func TestFarIndexPatch(t *testing.T) {
	// 20 steps of [1000000]: built in full, 100 MB of nulls; 180 bytes sent.
	path := "a" + strings.Repeat("[1000000]", 20)
	srv := enginetest.Start(t, nil)
	c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	other := enginetest.DialTCP(t, srv.TCPAddr()).Open()

	grew := allocated(func() {
		c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 2, Name: "far", Path: path, Data: []byte(`1`), Flags: fb.FlagsForced})
		v := expectError(t, c, protocol.CodeDocumentTooLarge)
		t.Logf("wire: %s", v.Reason())
	})
	t.Logf("the refused patch allocated %d bytes", grew)
	if grew > 32<<20 {
		t.Fatalf("a refused patch allocated %d bytes", grew)
	}
	// The loop is not stalled: another client gets an answer at once.
	begin := time.Now()
	other.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 3, Name: "e"})
	other.Expect(fb.TopicEvent, fb.ActionAck)
	t.Logf("another client's request took %v", time.Since(begin))

	grew = allocated(func() {
		res := batch(t, srv, "", `[{"topic":"record","action":"write","recordName":"far","path":"`+path+`","data":1}]`)
		if len(res.Body) != 1 || res.Body[0].Success || res.Body[0].Error != "DocumentTooLarge" {
			t.Fatalf("POST /api: %+v", res)
		}
	})
	t.Logf("the refused POST /api patch allocated %d bytes", grew)
	if grew > 32<<20 {
		t.Fatalf("a refused POST /api patch allocated %d bytes", grew)
	}
}
