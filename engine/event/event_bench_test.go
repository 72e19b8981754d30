package event

import (
	"fmt"
	"testing"
)

type counter struct{ n int }

func (c *counter) Deliver(p []byte) { c.n += len(p) }

func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			tb := New()
			for i := 0; i < subs; i++ {
				tb.Subscribe("prices/eurusd", &counter{})
			}
			name, payload := []byte("prices/eurusd"), make([]byte, 128)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload) * subs))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tb.Publish(name, payload, nil)
			}
		})
	}
}

// BenchmarkSubscribeOneName measures subscribing and unsubscribing one more
// subscriber of a name that already has size subscribers: the cost must
// not grow with size.
func BenchmarkSubscribeOneName(b *testing.B) {
	for _, size := range []int{1000, 10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("subs=%d", size), func(b *testing.B) {
			tb := New()
			for i := 0; i < size; i++ {
				tb.Subscribe("lobby", &counter{})
			}
			extra := make([]*counter, 1024)
			for i := range extra {
				extra[i] = &counter{}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := extra[i%len(extra)]
				tb.Subscribe("lobby", c)
				tb.Unsubscribe("lobby", c)
			}
		})
	}
}

// BenchmarkSubscribeStorm subscribes size subscribers to one name, then
// unsubscribes them all, as a reconnect storm does; ns/op is per
// subscriber.
func BenchmarkSubscribeStorm(b *testing.B) {
	for _, size := range []int{1000, 10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("subs=%d", size), func(b *testing.B) {
			subs := make([]*counter, size)
			for i := range subs {
				subs[i] = &counter{}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tb := New()
				for _, s := range subs {
					tb.Subscribe("lobby", s)
				}
				for _, s := range subs {
					tb.Unsubscribe("lobby", s)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/subscriber")
		})
	}
}
