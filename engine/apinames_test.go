package engine_test

import (
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// POST /api refuses names that are not valid UTF-8, raw or as lone
// surrogate escapes, with InvalidName, as the wire protocol does, instead
// of turning them into U+FFFD (where distinct names would collide).
func TestAPIInvalidUTF8Names(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, name := range []string{"a\xffb", "a\xfeb", `a\ud800b`, `\udc00`} {
		for _, m := range []string{
			`{"topic":"record","action":"write","recordName":"` + name + `","data":{"n":1}}`,
			`{"topic":"record","action":"read","recordName":"` + name + `"}`,
			`{"topic":"event","action":"emit","eventName":"` + name + `","data":1}`,
		} {
			res := batch(t, srv, "", "["+m+"]")
			if len(res.Body) != 1 || res.Body[0].Success || res.Body[0].Error != "InvalidName" {
				t.Fatalf("%q: %+v", m, res.Body)
			}
		}
	}
	// Valid escapes name the same record a connected client names in UTF-8.
	res := batch(t, srv, "", `[{"topic":"record","action":"write","recordName":"\u00e9t\u00e9\ud83d\ude00","data":{"n":2}}]`)
	if !res.Body[0].Success {
		t.Fatalf("write: %+v", res.Body[0])
	}
	c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 1, Name: "été😀"})
	if v := c.Expect(fb.TopicRecord, fb.ActionReadResult); string(v.DataBytes()) != `{"n":2}` {
		t.Fatalf("read %s", v.DataBytes())
	}
}
