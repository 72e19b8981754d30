package eddy

import (
	"context"
	"net"
	"strconv"
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

// sink is a minimal server for benchmarks: it completes the handshake and
// login, counts Emit frames without decoding them, and can flood the client
// with pre-encoded events.
type sink struct {
	addr  string
	ln    net.Listener
	emits atomic.Int64
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns []transport.Transport
}

func startSink(b *testing.B) *sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &sink{addr: "tcp://" + ln.Addr().String(), ln: ln}
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

func sendFrame(t transport.Transport, m *msg.Msg) {
	b := msg.Append(frame.AppendHeader(nil, 0), m)
	putFrameLen(b)
	_ = t.WriteFrames(b)
}

func (s *sink) serve(t transport.Transport) {
	var v msg.View
	for {
		p, err := t.ReadMessage()
		if err != nil {
			return
		}
		// Emits are by far the most frequent: count them by their action
		// byte cheaply, decode everything else.
		if v.Reset(p) != nil {
			return
		}
		switch v.Action() {
		case fb.ActionEmit:
			s.emits.Add(1)
		case fb.ActionHandshake:
			sendFrame(t, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version,
				Data: []byte(`{"heartbeatMs":60000}`)})
		case fb.ActionLogin:
			sendFrame(t, &msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: v.Id(), User: "bench"})
		case fb.ActionSubscribe, fb.ActionUnsubscribe:
			sendFrame(t, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionAck, ID: v.Id()})
		case fb.ActionPing:
			sendFrame(t, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()})
		}
	}
}

// waitEmits waits until the sink has counted n emits.
func (s *sink) waitEmits(b *testing.B, n int64) {
	deadline := time.Now().Add(30 * time.Second)
	for s.emits.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("sink got %d of %d emits", s.emits.Load(), n)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func benchClient(b *testing.B, addr string) *Client {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, WithoutReconnect())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkEmit measures publishing over raw TCP to a sink, from the call
// until the sink has read every frame.
func BenchmarkEmit(b *testing.B) {
	for _, size := range []int{16, 256, 4096} {
		b.Run("size="+strconv.Itoa(size), func(b *testing.B) {
			s := startSink(b)
			c := benchClient(b, s.addr)
			// A JSON string of size bytes (a run of digits that long is a
			// number past a float64's range, which Emit refuses).
			data := make([]byte, size)
			for i := range data {
				data[i] = 'x'
			}
			data[0], data[size-1] = '"', '"'
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := c.Event.Emit("bench/topic", data); err != nil {
					b.Fatal(err)
				}
			}
			s.waitEmits(b, int64(b.N))
		})
	}
}

// BenchmarkEmitParallel publishes from several goroutines on one client.
func BenchmarkEmitParallel(b *testing.B) {
	s := startSink(b)
	c := benchClient(b, s.addr)
	data := []byte(`{"score":[2,1]}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Event.Emit("bench/topic", data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	s.waitEmits(b, int64(b.N))
}

// BenchmarkEmitLocalSubscriber adds delivery to an own subscriber (through
// the callback goroutine) to every Emit.
func BenchmarkEmitLocalSubscriber(b *testing.B) {
	s := startSink(b)
	c := benchClient(b, s.addr)
	var got atomic.Int64
	if _, err := c.Event.Subscribe("bench/topic", func([]byte) { got.Add(1) }); err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"score":[2,1]}`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Event.Emit("bench/topic", data); err != nil {
			b.Fatal(err)
		}
	}
	s.waitEmits(b, int64(b.N))
	for got.Load() < int64(b.N) {
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkReceive measures inbound events: socket read, verification,
// dispatch and the callback.
func BenchmarkReceive(b *testing.B) {
	s := startSink(b)
	c := benchClient(b, s.addr)
	var got atomic.Int64
	done := make(chan struct{})
	var target atomic.Int64
	if _, err := c.Event.Subscribe("bench/topic", func([]byte) {
		if got.Add(1) == target.Load() {
			close(done)
		}
	}); err != nil {
		b.Fatal(err)
	}
	s.mu.Lock()
	t := s.conns[0]
	s.mu.Unlock()
	data := []byte(`{"score":[2,1]}`)
	one := msg.Append(frame.AppendHeader(nil, 0), &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "bench/topic", Data: data})
	putFrameLen(one)
	batch := make([]byte, 0, 256*len(one))
	for range 256 {
		batch = append(batch, one...)
	}
	target.Store(int64(b.N))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(256, b.N-sent)
		if err := t.WriteFrames(batch[:n*len(one)]); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
}
