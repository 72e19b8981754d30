package rpc

import (
	"strconv"
	"testing"
)

type discardConn struct{}

func (discardConn) Send([]byte) error { return nil }

// BenchmarkRouteRespond measures one request's life in the table: route
// to a provider (encode the forwarded frame, arm the deadline), accept
// (move the deadline, relay Accept) and respond (relay Response, end).
func BenchmarkRouteRespond(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run("data="+strconv.Itoa(size), func(b *testing.B) {
			tab := New(Config{})
			req := NewPeer(discardConn{}, "ann")
			prov := NewPeer(discardConn{}, "bob")
			if err := tab.Provide(prov, "add-two"); err != nil {
				b.Fatal(err)
			}
			call := &Call{ID: 1, Name: []byte("add-two"), Data: make([]byte, size)}
			resp := []byte("7")
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				tab.Request(req, call)
				id := tab.seq.Load() | ServerIDBit
				if err := tab.Accept(prov, id); err != nil {
					b.Fatal(err)
				}
				if err := tab.Respond(prov, id, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		tab := New(Config{})
		prov := NewPeer(discardConn{}, "bob")
		prov2 := NewPeer(discardConn{}, "eve")
		_ = tab.Provide(prov, "add-two")
		_ = tab.Provide(prov2, "add-two")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := NewPeer(discardConn{}, "ann")
			call := &Call{ID: 1, Name: []byte("add-two"), Data: []byte("5")}
			for pb.Next() {
				tab.Request(req, call)
				// Answer everything pending at the providers.
				for _, p := range []*Peer{prov, prov2} {
					p.mu.Lock()
					var ids [8]uint64
					n := 0
					for id := range p.mu.asked {
						if n == len(ids) {
							break
						}
						ids[n] = id
						n++
					}
					p.mu.Unlock()
					for _, id := range ids[:n] {
						_ = tab.Respond(p, id, []byte("7"))
					}
				}
			}
		})
	})
}
