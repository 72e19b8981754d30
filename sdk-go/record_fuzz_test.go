package eddy

import (
	"encoding/json"
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// FuzzRecordMessages feeds arbitrary server messages, twice each, to a
// client holding records in every state with path subscriptions: nothing
// may panic, and a held record's document must stay a JSON object or
// array.
func FuzzRecordMessages(f *testing.F) {
	for _, m := range []*msg.Msg{
		{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: "synced", Version: 4, Path: "a.b[2]", Data: []byte(`{"x":1}`)},
		{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: "synced", Version: 4, Path: "", Data: []byte(`7`)},
		{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: "synced", Version: 4, Data: []byte(`[1,2]`)},
		{Topic: fb.TopicRecord, Action: fb.ActionErasePath, Name: "synced", Version: 4, Path: "a.b[0]"},
		{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: "waiting", Version: 6, Path: "k", Data: []byte(`1`)},
		{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: "merging", Version: 6, Path: "k", Data: []byte(`1`)},
		{Topic: fb.TopicRecord, Action: fb.ActionReadResult, ID: 1, Name: "resync", Version: 9, Data: []byte(`{"z":[]}`)},
		{Topic: fb.TopicRecord, Action: fb.ActionReadResult, ID: 1, Name: "resync", Version: 3},
		{Topic: fb.TopicRecord, Action: fb.ActionVersionExists, ID: 2, Name: "waiting", Version: 8, Data: []byte(`{"q":1}`)},
		{Topic: fb.TopicRecord, Action: fb.ActionWriteAck, ID: 2, Name: "waiting", Version: 6},
		{Topic: fb.TopicRecord, Action: fb.ActionError, ID: 2, Name: "waiting", Code: 30},
		{Topic: fb.TopicRecord, Action: fb.ActionVersionExists, Name: "synced", Version: 9, Data: []byte(`{}`)},
		{Topic: fb.TopicRecord, Action: fb.ActionDeleted, Name: "synced"},
		{Topic: fb.TopicRecord, Action: fb.ActionError, Name: "synced", Code: 42},
	} {
		f.Add(msg.Append(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v msg.View
		if v.Reset(b) != nil {
			return
		}
		c := newClient("tcp://127.0.0.1:1", defaultOptions(), nil)
		rs := c.Record
		c.Record.SetMergeStrategy("merging", MergeWith(func(l, r json.RawMessage, _, _ int64) (json.RawMessage, error) { return l, nil }))
		doc := []byte(`{"a":{"b":[1,{"c":2},3]},"k":0}`)
		held := map[string]*localRecord{}
		for _, name := range []string{"synced", "resync", "waiting", "merging"} {
			r := rs.acquire(name)
			r.state, r.data, r.version, r.confirmed = stSynced, doc, 3, 3
			h := &Record{r: r}
			for _, p := range []string{"", "a", "a.b", "a.b[1].c", "a.b[2]", "k", "z"} {
				h.Subscribe(p, func(json.RawMessage) {})
			}
			held[name] = r
		}
		rr := held["resync"]
		rr.state, rr.pre, rr.preVersion = stResync, doc, 5
		rr.read = &readOp{r: rr}
		c.tracker.Add(nil, rr.read.done)
		rw := held["waiting"]
		wa := &writeAck{r: rw, merge: true, waiters: []*ackWaiter{newAckWaiter()}}
		rw.state, rw.mergeAck, rw.pre, rw.preVersion, rw.version, rw.confirmed = stMergeWait, wa, doc, 5, 5, 4
		c.tracker.Add(nil, wa.done)
		rm := held["merging"]
		rm.state, rm.pre, rm.preVersion, rm.remote, rm.remoteVersion = stMerging, doc, 5, doc, 5

		c.onMessage(nil, &v)
		c.onMessage(nil, &v)
		c.tracker.Fail(nil, ErrClosed)
		for name, r := range held {
			r.mu.Lock()
			if r.state != stGone && !isContainer(r.data) {
				t.Fatalf("%s: document %q", name, r.data)
			}
			r.mu.Unlock()
		}
	})
}
