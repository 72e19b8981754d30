package load

import (
	"testing"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// newDiscardClient is an eddyClient whose writes vanish and whose reader
// is driven by hand (feed), as the reader goroutine would.
func newDiscardClient(useWS bool) (*eddyClient, *discardConn) {
	dc := &discardConn{}
	c := &EddyConn{conn: dc, ws: useWS, rbuf: make([]byte, 1<<20)}
	c.wmu.mask = 1
	e := &eddyClient{c: c, confirmed: make(chan struct{}, confirmBuffer)}
	c.onMessage = e.onMessage
	return e, dc
}

// feed runs a stream of frames through the reader's parsing and dispatch.
func feed(tb testing.TB, c *EddyConn, stream []byte) {
	c.r, c.w = 0, copy(c.rbuf, stream)
	for c.r < c.w {
		p, err := c.nextPayload()
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.view.Reset(p); err != nil {
			tb.Fatal(err)
		}
		c.onMessage(&c.view)
	}
}

func frames(n int, m *msg.Msg) []byte {
	enc := msg.Append(nil, m)
	var stream []byte
	for i := 0; i < n; i++ {
		stream = frame.Append(stream, enc)
	}
	return stream
}

// TestScenarioHotPathsDoNotAllocate: after warm-up, a versioned record
// write, an RPC request, a durable write, a provider's answer, a record
// delivery and an RPC response allocate nothing on the generator's side.
func TestScenarioHotPathsDoNotAllocate(t *testing.T) {
	payload, _ := NewPayload(128, 0)
	for _, useWS := range []bool{false, true} {
		e, dc := newDiscardClient(useWS)
		var n uint64
		sends := map[string]func(){
			"record write":  func() { _ = e.WriteRecord(RecordPrefix+"0", recordPaths[n%3], int64(n), payload, false) },
			"rpc request":   func() { _ = e.Request(RPCName, n, payload) },
			"durable write": func() { _ = e.WriteDurable(DurablePrefix+"0", n, payload) },
		}
		for name, send := range sends {
			run := func() {
				for i := 0; i < 100; i++ {
					n++
					Stamp(payload, n, Now())
					send()
				}
				_ = e.Flush()
			}
			run()
			if a := testing.AllocsPerRun(10, run); a != 0 {
				t.Errorf("ws=%v %s: 100 sends allocate %.0f times", useWS, name, a)
			}
		}
		if dc.n == 0 {
			t.Fatal("nothing written")
		}
	}

	// The reader side: deliveries, forwarded requests answered, responses.
	e, dc := newDiscardClient(false)
	got := 0
	follow := map[string]func(int64, []byte){RecordPrefix + "0": func(v int64, d []byte) { got += len(d) }}
	e.rec.follow.Store(&follow)
	resp := func(id uint64, d []byte, err error) { got += len(d) }
	e.rpc.onResp.Store(&resp)
	e.rpc.providing.Store(true)
	streams := map[string][]byte{
		"record delivery": frames(100, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: RecordPrefix + "0", Path: "position.x", Version: 7, Data: payload}),
		"provider answer": frames(100, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: 1<<63 | 5, Name: RPCName, Data: payload}),
		"rpc response":    frames(100, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionResponse, ID: 5, Data: payload}),
	}
	for name, stream := range streams {
		run := func() { feed(t, e.c, stream); e.onReadBatch() }
		run()
		if a := testing.AllocsPerRun(10, run); a != 0 {
			t.Errorf("%s: 100 messages allocate %.0f times", name, a)
		}
	}
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	if got == 0 || dc.n == 0 {
		t.Fatalf("delivered %d bytes, answered %d bytes", got, dc.n)
	}
}

func BenchmarkRecordWrite(b *testing.B) {
	e, _ := newDiscardClient(false)
	payload, _ := NewPayload(128, 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Stamp(payload, uint64(i), int64(i))
		_ = e.WriteRecord(RecordPrefix+"0", recordPaths[i%3], int64(i), payload, false)
	}
	_ = e.Flush()
}

// BenchmarkRecordDelivery: one op is one Patch delivery read, verified
// and dispatched by the reader.
func BenchmarkRecordDelivery(b *testing.B) {
	e, _ := newDiscardClient(false)
	payload, _ := NewPayload(128, 0)
	n := 0
	follow := map[string]func(int64, []byte){RecordPrefix + "0": func(int64, []byte) { n++ }}
	e.rec.follow.Store(&follow)
	stream := frames(1000, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: RecordPrefix + "0", Path: "position.x", Version: 7, Data: payload})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		feed(b, e.c, stream)
	}
	b.StopTimer()
	if n == 0 {
		b.Fatal("nothing delivered")
	}
}

// BenchmarkRPCProviderAnswer: one op is one forwarded request read and
// its response queued (written once per 1000).
func BenchmarkRPCProviderAnswer(b *testing.B) {
	e, dc := newDiscardClient(false)
	payload, _ := NewPayload(128, 0)
	e.rpc.providing.Store(true)
	stream := frames(1000, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: 1<<63 | 5, Name: RPCName, Data: payload})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		feed(b, e.c, stream)
		e.onReadBatch()
	}
	b.StopTimer()
	if dc.n == 0 {
		b.Fatal("nothing answered")
	}
}
