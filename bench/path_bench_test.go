package bench_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/eddy-realtime/eddy/bench/load"
	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/session"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// discard is a netloop.Transport that counts what it is given and keeps
// nothing, so the benchmarks measure Eddy's path and not a socket.
type discard struct {
	bytes  int64
	writes int64
	woken  atomic.Bool
}

func (d *discard) Write(b []byte) error { d.bytes += int64(len(b)); d.writes++; return nil }
func (d *discard) Buffered() int        { return 0 }
func (d *discard) Wake()                { d.woken.Store(true) }
func (d *discard) Close()               {}
func (d *discard) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// world is a session manager and event table with fake connections.
type world struct {
	t   testing.TB
	srv *netloop.Server
	tab *event.Table
}

func newWorld(t testing.TB) *world {
	tab := event.New()
	// The per-connection rate limit (default 1M messages/s) is still
	// checked on every message, but set high enough that a fast run of the
	// benchmark is not refused.
	opts := session.Options{MaxMessageRate: 1 << 30}
	mgr := session.NewManager(session.Config{Options: opts, Auth: session.Open{}, Events: tab})
	srv := &netloop.Server{Handler: mgr}
	srv.Options.EnsureDefaults()
	return &world{t: t, srv: srv, tab: tab}
}

// conn opens a TCP-framed connection and logs it in.
func (w *world) conn() (*netloop.Conn, *discard) {
	d := &discard{}
	c := netloop.NewConn(w.srv, netloop.TCP, d)
	c.Open()
	w.feed(c, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
	w.feed(c, &msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1})
	return c, d
}

// feed hands one framed message to c the way a back-end does.
func (w *world) feed(c *netloop.Conn, m *msg.Msg) {
	w.t.Helper()
	f := frame.Append(nil, msg.Append(nil, m))
	if n := c.Feed(f); n != len(f) {
		w.t.Fatalf("Feed consumed %d of %d bytes", n, len(f))
	}
	c.Flush()
}

const eventName = "prices/eurusd"

// BenchmarkEmitFanout feeds one framed Emit per op to a publisher's
// connection: frame split, verify, state and rate checks, dispatch, one
// encode of the delivery, one append to each subscriber's queue; every
// flushEvery ops each subscriber's queue is flushed with one write, as an
// event loop does per wake-up. 0 allocs/op is the rule.
func BenchmarkEmitFanout(b *testing.B) {
	payload, err := load.NewPayload(128, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, subs := range []int{10, 100} {
		for _, flushEvery := range []int{1, 64} {
			b.Run(fmt.Sprintf("subs=%d/flush=%d", subs, flushEvery), func(b *testing.B) {
				w := newWorld(b)
				pub, pubT := w.conn()
				conns := make([]*netloop.Conn, subs)
				sinks := make([]*discard, subs)
				for i := range conns {
					conns[i], sinks[i] = w.conn()
					w.feed(conns[i], &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: eventName})
				}
				if w.tab.Count(eventName) != subs {
					b.Fatalf("%d subscribers, want %d", w.tab.Count(eventName), subs)
				}
				emit := frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: eventName, Data: payload}))
				delivery := frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: eventName, Data: payload}))
				// Warm up: queues and pooled builders reach their steady size.
				for i := 0; i < 256; i++ {
					pub.Feed(emit)
					pub.Flush()
					if (i+1)%flushEvery == 0 {
						for _, c := range conns {
							c.Flush()
						}
					}
				}
				for _, c := range conns {
					c.Flush()
				}
				before := make([]int64, subs)
				for i, s := range sinks {
					before[i] = s.bytes
				}
				pubBytes := pubT.bytes
				b.ReportAllocs()
				b.SetBytes(int64(len(emit)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if pub.Feed(emit) != len(emit) {
						b.Fatal("emit not consumed")
					}
					pub.Flush()
					if (i+1)%flushEvery == 0 {
						for _, c := range conns {
							c.Flush()
						}
					}
				}
				for _, c := range conns {
					c.Flush()
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)*float64(subs)/b.Elapsed().Seconds(), "deliveries/s")
				for i, s := range sinks {
					if got, want := s.bytes-before[i], int64(b.N)*int64(len(delivery)); got != want {
						b.Fatalf("subscriber %d received %d bytes, want %d", i, got, want)
					}
				}
				if pubT.bytes != pubBytes {
					b.Fatalf("the publisher was sent %d bytes", pubT.bytes-pubBytes)
				}
			})
		}
	}
}

// BenchmarkMsgAppend encodes the Emit a server sends to subscribers.
func BenchmarkMsgAppend(b *testing.B) {
	payload, _ := load.NewPayload(128, 0)
	m := msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: eventName, Data: payload}
	dst := msg.Append(nil, &m)
	b.ReportAllocs()
	b.SetBytes(int64(len(dst)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = msg.Append(dst[:0], &m)
	}
}

// BenchmarkMsgViewDecode verifies an Emit and reads the fields dispatch reads.
func BenchmarkMsgViewDecode(b *testing.B) {
	payload, _ := load.NewPayload(128, 0)
	buf := msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, ID: 9, Name: eventName, Data: payload})
	var v msg.View
	n := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := v.Reset(buf); err != nil {
			b.Fatal(err)
		}
		if v.Topic() != fb.TopicEvent || v.Action() != fb.ActionEmit || v.Id() != 9 {
			b.Fatal("wrong message")
		}
		n += len(v.Name()) + len(v.DataBytes())
	}
	if n != b.N*(len(eventName)+len(payload)) {
		b.Fatal("fields not read")
	}
}
