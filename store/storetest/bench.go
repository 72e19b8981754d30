package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/store"
)

// Bench runs the store benchmarks on the stores made by open, which must
// return a fresh store with the given options:
//
//   - Put/coalesce-1k and Put/spread-64k: Put throughput (ops/s) with nil
//     dones over 1,024 hot names or 65,536 names, 200-byte values, ending
//     with a Sync inside the timed region so queued work is paid for.
//   - Get/queued and Get/stored-200B, Get/stored-2KiB: read hits from the
//     write queue and from the storage.
//   - Acked/interval/writers=N and Acked/group/writers=N: N goroutines each
//     write one name, waiting for the done before the next write (a client
//     writing with ack); reports acked writes/s, p50 and p99 latency, and
//     writes per batch. "interval" uses the default FlushInterval, "group"
//     a negative one (commit as soon as the writer is free).
func Bench(b *testing.B, open func(b *testing.B, opts store.Options) store.Store) {
	val := SampleJSON(200, 1)
	names := make([]string, 1<<16)
	for i := range names {
		names[i] = fmt.Sprintf("bench/record/%05d", i)
	}
	closeStore := func(b *testing.B, s store.Store) {
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	benchSync := func(b *testing.B, s store.Store) {
		if err := s.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	}

	for _, c := range []struct {
		name  string
		names int
	}{{"coalesce-1k", 1 << 10}, {"spread-64k", 1 << 16}} {
		b.Run("Put/"+c.name, func(b *testing.B) {
			s := open(b, store.Options{})
			defer closeStore(b, s)
			b.SetBytes(int64(len(val)))
			b.ReportAllocs()
			start := time.Now()
			i := 0
			for b.Loop() {
				s.Put(names[i&(c.names-1)], int64(i), val, nil)
				i++
			}
			benchSync(b, s)
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "ops/s")
		})
	}

	b.Run("Get/queued", func(b *testing.B) {
		s := open(b, store.Options{FlushInterval: time.Hour})
		defer closeStore(b, s)
		for i := range 1024 {
			s.Put(names[i], 1, val, nil)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Get(names[i&1023]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	for _, size := range []int{200, 2048} {
		b.Run(fmt.Sprintf("Get/stored-%s", sizeName(size)), func(b *testing.B) {
			s := open(b, store.Options{})
			defer closeStore(b, s)
			v := SampleJSON(size, 2)
			for i := range 1024 {
				s.Put(names[i], 1, v, nil)
			}
			benchSync(b, s)
			b.SetBytes(int64(len(v)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Get(names[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}

	for _, mode := range []struct {
		name     string
		interval time.Duration
	}{{"interval", 0}, {"group", -1}} {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("Acked/%s/writers=%d", mode.name, writers), func(b *testing.B) {
				s := open(b, store.Options{FlushInterval: mode.interval})
				defer closeStore(b, s)
				benchAcked(b, s, writers, names, val)
			})
		}
	}
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

func benchAcked(b *testing.B, s store.Store, writers int, names []string, val []byte) {
	before := s.Stats()
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := make(chan error, 1)
			done := func(err error) { ch <- err }
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				s.Put(names[w], i, val, done)
				if err := <-ch; err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	after := s.Stats()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "acked-writes/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	if batches := after.Batches - before.Batches; batches > 0 {
		b.ReportMetric(float64(after.SyncedWrites-before.SyncedWrites)/float64(batches), "writes/batch")
	}
}
