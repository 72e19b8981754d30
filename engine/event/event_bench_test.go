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
