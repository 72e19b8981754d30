package httpapi

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// BenchmarkAPIBatch measures POST /api without sockets: JSON in, a virtual
// connection's handshake, login and messages through the session layer,
// JSON out.
func BenchmarkAPIBatch(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(strconv.Itoa(n)+"-emits", func(b *testing.B) {
			a := newTestAPI(b, Options{})
			msgs := make([]string, n)
			for i := range msgs {
				msgs[i] = `{"topic":"event","action":"emit","eventName":"news","data":{"i":` + strconv.Itoa(i) + `}}`
			}
			body := `{"body":[` + strings.Join(msgs, ",") + `]}`
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := httptest.NewRecorder()
				a.ServeHTTP(rec, httptest.NewRequest("POST", "/api", strings.NewReader(body)))
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkHubDeliver measures what a streamed event name costs its
// publisher: render once, number, keep, queue on the streams.
func BenchmarkHubDeliver(b *testing.B) {
	for _, streams := range []int{1, 100} {
		b.Run(strconv.Itoa(streams)+"-streams", func(b *testing.B) {
			f := newHubFixture(b, 1000)
			ss := make([]*stream, streams)
			var c *channel
			for i := range ss {
				var err error
				if c, err = f.h.acquire(b.Context(), chanKey{fb.TopicEvent, "news"}); err != nil {
					b.Fatal(err)
				}
				ss[i] = newStream(1 << 30)
				if _, err := f.h.attach(ss[i], []*channel{c}, position{}); err != nil {
					b.Fatal(err)
				}
			}
			payload := msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "news", Data: []byte(`{"score":[2,1],"minute":87}`)})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Deliver(payload)
				if i%1024 == 1023 {
					for _, s := range ss {
						f.h.take(s, nil)
					}
				}
			}
		})
	}
}
