package metrics

import (
	"testing"

	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// The per-message counting paths: each must cost an atomic add and no
// allocation.
func BenchmarkHotPath(b *testing.B) {
	m := New(Config{})
	b.Run("MessageIn", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.MessageIn(fb.TopicEvent, fb.ActionEmit)
		}
	})
	b.Run("MessageIn/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.MessageIn(fb.TopicRecord, fb.ActionPatch)
			}
		})
	})
	b.Run("Deliveries", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Deliveries(fb.TopicEvent, 100)
		}
	})
	b.Run("Denied", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Denied(fb.TopicRecord, fb.ActionUpdate)
		}
	})
	b.Run("Flushed+Received", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Received(64)
			m.Flushed(3, 200)
		}
	})
	b.Run("Connection", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Connection(netloop.TCP, i&1 == 0)
		}
	})
}

// BenchmarkScrape measures one Gather of a busy registry (not a hot path).
func BenchmarkScrape(b *testing.B) {
	m := New(Config{})
	for a := 0; a < 90; a++ {
		m.MessageIn(fb.TopicRecord, fb.Action(a))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := m.Registry().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
