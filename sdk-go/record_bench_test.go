package eddy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/transport"
)

// recordSink is a minimal server for record benchmarks: it completes the
// handshake and login, answers Reads with an empty record and counts the
// record writes it receives.
type recordSink struct {
	addr   string
	ln     net.Listener
	writes atomic.Int64
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []transport.Transport
}

func startRecordSink(b *testing.B) *recordSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &recordSink{addr: "tcp://" + ln.Addr().String(), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			t := transport.NewTCP(nc, DefaultMaxFrame)
			s.mu.Lock()
			s.conns = append(s.conns, t)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(t)
			}()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, t := range s.conns {
			t.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *recordSink) send(t transport.Transport, m *msg.Msg) {
	b := frame.Append(nil, msg.Append(nil, m))
	_ = t.WriteFrames(b)
}

func (s *recordSink) serve(t transport.Transport) {
	var v msg.View
	for {
		p, err := t.ReadMessage()
		if err != nil || v.Reset(p) != nil {
			return
		}
		switch v.Action() {
		case fb.ActionPatch, fb.ActionUpdate, fb.ActionErasePath:
			s.writes.Add(1)
		case fb.ActionHandshake:
			s.send(t, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version,
				Data: []byte(`{"heartbeatMs":60000}`)})
		case fb.ActionLogin:
			s.send(t, &msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: v.Id(), User: "bench"})
		case fb.ActionRead:
			s.send(t, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionReadResult, ID: v.Id(), Name: string(v.Name()),
				HasVersion: true, Data: []byte(recordBenchDoc)})
		case fb.ActionPing:
			s.send(t, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()})
		}
	}
}

func (s *recordSink) waitWrites(b *testing.B, n int64) {
	deadline := time.Now().Add(30 * time.Second)
	for s.writes.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("sink got %d of %d writes", s.writes.Load(), n)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// recordBenchDoc is a record of about 1 KiB: ten objects of a few fields.
var recordBenchDoc = func() string {
	m := map[string]any{}
	for i := range 10 {
		m[fmt.Sprintf("k%d", i)] = map[string]any{"x": i, "y": i * 2, "name": fmt.Sprintf("driver number %d", i),
			"tags": []string{"fast", "blue", "night"}}
	}
	b, _ := json.Marshal(m)
	return string(b)
}()

// BenchmarkRecordSetPath measures a local path write: marshal, apply to the
// local copy, encode and queue the Patch, until the server has read every
// write.
func BenchmarkRecordSetPath(b *testing.B) {
	for _, tc := range []struct {
		name  string
		value func(i int) any
	}{
		{"int", func(i int) any { return i }},
		{"raw", func(i int) any { return recordRawInts[i&1] }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := startRecordSink(b)
			ctx0, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := Dial(ctx0, s.addr, WithoutReconnect())
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			ctx := context.Background()
			r, err := c.Record.Get(ctx, "bench/record")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := r.SetPath(ctx, "k3.x", tc.value(i+1000)); err != nil {
					b.Fatal(err)
				}
			}
			s.waitWrites(b, int64(b.N))
		})
	}
}

var recordRawInts = [2]json.RawMessage{json.RawMessage(`1`), json.RawMessage(`2`)}

// BenchmarkRecordApplyPatch measures applying a Patch from another writer
// (reader goroutine work: version check, patch, deciding which of 10 path
// subscriptions changed, queueing their callbacks), with the callbacks
// running on the callback goroutine.
func BenchmarkRecordApplyPatch(b *testing.B) {
	c := newClient("tcp://127.0.0.1:1", defaultOptions(), nil)
	go c.disp.run()
	b.Cleanup(func() { c.disp.stop(true) })
	rs := c.Record
	r := rs.acquire("bench/record")
	r.mu.Lock()
	r.state, r.data = stSynced, []byte(recordBenchDoc)
	r.mu.Unlock()
	h := &Record{r: r}
	var calls atomic.Int64
	count := func(json.RawMessage) { calls.Add(1) }
	for i := range 9 {
		h.Subscribe(fmt.Sprintf("k%d.x", i), count)
	}
	h.Subscribe("", count)
	// Two patches of k3.x with different values, their versions set in place.
	var views [2]msg.View
	for i := range views {
		p := msg.Append(nil, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: "bench/record",
			Path: "k3.x", Data: recordRawInts[i], Version: 1, HasVersion: true})
		if err := views[i].Reset(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		v := &views[i&1]
		v.MutateVersion(int64(i + 1))
		rs.onMessage(nil, v)
	}
	deadline := time.Now().Add(30 * time.Second)
	for calls.Load() < int64(2*b.N) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	if got := calls.Load(); got != int64(2*b.N) {
		b.Fatalf("%d callbacks for %d patches, want 2 per patch", got, b.N)
	}
	if h.Version() != int64(b.N) {
		b.Fatalf("version %d after %d patches", h.Version(), b.N)
	}
}
