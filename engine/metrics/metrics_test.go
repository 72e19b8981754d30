package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/store"
)

// value gathers the registry and returns the sample of name whose labels
// include every pair in labels, failing when there is none.
func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	v, ok := lookup(t, m, name, labels...)
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return v
}

func lookup(t *testing.T, m *Metrics, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(s, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue(), true
			case s.Gauge != nil:
				return s.Gauge.GetValue(), true
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabel(s *dto.Metric, k, v string) bool {
	for _, l := range s.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestCountersReachTheRegistry(t *testing.T) {
	st := store.Stats{Batches: 7, FailedBatches: 1, SyncedWrites: 40, LastBatchLatency: 3 * time.Millisecond, LastBatchWrites: 5, LastBatchBytes: 900, QueuedWrites: 2}
	m := New(Config{Store: func() store.Stats { return st }, Release: "v9"})

	m.Connection(netloop.TCP, true)
	m.Connection(netloop.TCP, true)
	m.Connection(netloop.TCP, false)
	m.Connection(netloop.WebSocket, true)
	m.Connection(netloop.HTTP, true)
	m.Stream(true)
	for i := 0; i < 3; i++ {
		m.MessageIn(fb.TopicRecord, fb.ActionErasePath)
	}
	m.MessageIn(fb.TopicEvent, fb.ActionEmit)
	m.MessageIn(fb.Topic(200), fb.ActionEmit)  // out-of-schema topic
	m.MessageIn(fb.TopicEvent, fb.Action(250)) // out-of-schema action
	m.MessageIn(fb.TopicEvent, fb.Action(251))
	m.Deliveries(fb.TopicEvent, 10)
	m.Deliveries(fb.TopicEvent, 0)
	m.Deliveries(fb.TopicRecord, 4)
	m.Login(true)
	m.Login(false)
	m.Login(false)
	m.Denied(fb.TopicRecord, fb.ActionUpdate)
	m.SlowConsumer(false)
	m.SlowConsumer(true)
	m.SlowConsumer(true)
	m.Received(100)
	m.Flushed(3, 60)
	m.Flushed(1, 20)
	m.RPCTimeout(true)
	m.SSESent(5)
	m.SSEGap()
	m.APIMessage(true)
	m.APIMessage(false)
	m.HTTPRequest("api", 200)
	m.APILatency(2 * time.Millisecond)

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eddy_connections", []string{"transport", "tcp"}, 1},
		{"eddy_connections", []string{"transport", "ws"}, 1},
		{"eddy_connections", []string{"transport", "http"}, 1},
		{"eddy_connections", []string{"transport", "sse"}, 1},
		{"eddy_messages_in_total", []string{"topic", "record", "action", "erase_path"}, 3},
		{"eddy_messages_in_total", []string{"topic", "event", "action", "emit"}, 1},
		{"eddy_messages_in_total", []string{"topic", "unknown", "action", "emit"}, 1},
		{"eddy_messages_in_total", []string{"topic", "event", "action", "unknown"}, 2},
		{"eddy_deliveries_total", []string{"topic", "event"}, 10},
		{"eddy_deliveries_total", []string{"topic", "record"}, 4},
		{"eddy_deliveries_total", []string{"topic", "rpc"}, 0},
		{"eddy_logins_total", []string{"result", "ok"}, 1},
		{"eddy_logins_total", []string{"result", "refused"}, 2},
		{"eddy_permission_denied_total", []string{"topic", "record", "action", "update"}, 1},
		{"eddy_slow_consumer_total", []string{"outcome", "disconnect"}, 1},
		{"eddy_slow_consumer_total", []string{"outcome", "drop"}, 2},
		{"eddy_bytes_in_total", nil, 100},
		{"eddy_bytes_out_total", nil, 80},
		{"eddy_messages_out_total", nil, 4},
		{"eddy_rpc_timeouts_total", []string{"deadline", "accept"}, 1},
		{"eddy_rpc_timeouts_total", []string{"deadline", "response"}, 0},
		{"eddy_sse_messages_total", nil, 5},
		{"eddy_sse_gaps_total", nil, 1},
		{"eddy_http_api_messages_total", []string{"result", "ok"}, 1},
		{"eddy_http_api_messages_total", []string{"result", "error"}, 1},
		{"eddy_http_requests_total", []string{"endpoint", "api", "code", "200"}, 1},
		{"eddy_http_api_duration_seconds", nil, 1},
		{"eddy_store_batches_total", []string{"result", "ok"}, 7},
		{"eddy_store_batches_total", []string{"result", "failed"}, 1},
		{"eddy_store_writes_total", []string{"outcome", "synced"}, 40},
		{"eddy_store_last_batch_seconds", nil, 0.003},
		{"eddy_store_last_batch_writes", nil, 5},
		{"eddy_store_last_batch_bytes", nil, 900},
		{"eddy_store_queued_writes", nil, 2},
		{"eddy_build_info", []string{"release", "v9"}, 1},
	}
	for _, c := range checks {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := lookup(t, m, "eddy_messages_in_total", "topic", "rpc"); ok {
		t.Error("a topic and action never counted should not appear")
	}
	if _, ok := lookup(t, m, "go_goroutines"); !ok {
		t.Error("the Go runtime collector is missing")
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	m := New(Config{})
	m.MessageIn(fb.TopicRecord, fb.ActionRead)
	m.GaugeFunc("eddy_records_in_memory", "Records held in memory.", func() float64 { return 42 })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`eddy_messages_in_total{action="read",topic="record"} 1`,
		"eddy_records_in_memory 42",
		"# TYPE eddy_connections gauge",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(string(body), "eddy_store_") {
		t.Error("store metrics without a store")
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"ErasePath": "erase_path", "Emit": "emit", "SubscriptionHasProvider": "subscription_has_provider"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// Separate registries keep separate counts.
func TestNoGlobals(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	a.Login(true)
	if v := value(t, b, "eddy_logins_total", "result", "ok"); v != 0 {
		t.Fatalf("second registry saw %v logins", v)
	}
}
