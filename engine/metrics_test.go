package engine_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol/fb"

	"github.com/golang-jwt/jwt/v5"
)

// scrape reads GET /metrics into name{labels} → value, labels sorted by
// name as Prometheus prints them: `eddy_logins_total{result="ok"}`.
func scrape(t *testing.T, srv *engine.Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				out[key] = m.Untyped.GetValue()
			}
		}
	}
	return out
}

// TestMetricsAfterWorkload runs a known workload and checks each counter
// moved by exactly what it did.
func TestMetricsAfterWorkload(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "permissions.yml")
	if err := os.WriteFile(rules, []byte(`
record: { "*": { read: true, write: true, create: true, delete: true } }
event:
  "*": { publish: true, subscribe: true }
  "forbidden/*": { publish: false }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Auth.Strategies = []auth.StrategyConfig{{Type: "jwt", JWT: auth.JWTConfig{HMACSecret: jwtSecret}}, {Type: "none"}}
		o.Valve.Path = rules
	})
	before := scrape(t, srv)

	// Three subscribers over TCP and one over WebSocket.
	var subs []*enginetest.Client
	for i := 0; i < 4; i++ {
		var c *enginetest.Client
		if i < 3 {
			c = enginetest.DialTCP(t, srv.TCPAddr())
		} else {
			c = enginetest.DialWS(t, srv.WSAddr(), false)
		}
		c.Open()
		c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: "m"})
		c.Expect(fb.TopicEvent, fb.ActionAck)
		subs = append(subs, c)
	}
	// One stream.
	s := openSSE(t, srv, "events=m")
	s.expect("stream", "ready", "")

	// Two API requests: five emits to four subscribers and the stream, one
	// denied emit, one write; then a refused login.
	out := batch(t, srv, "", `[
		{"topic":"event","action":"emit","eventName":"m","data":1},
		{"topic":"event","action":"emit","eventName":"m","data":2},
		{"topic":"event","action":"emit","eventName":"forbidden/x","data":3},
		{"topic":"record","action":"write","recordName":"r","data":{"a":1}}]`)
	if out.Result != "PARTIAL_SUCCESS" {
		t.Fatalf("first batch %+v", out)
	}
	batch(t, srv, `"token":"`+signed(t, jwt.MapClaims{"sub": "ann"})+`"`, `[
		{"topic":"event","action":"emit","eventName":"m","data":4},
		{"topic":"event","action":"emit","eventName":"m","data":5},
		{"topic":"event","action":"emit","eventName":"m","data":6}]`)
	if status, _ := postAPI(t, srv, `{"token":"forged","body":[{}]}`); status != 401 {
		t.Fatalf("forged token: %d", status)
	}
	for _, c := range subs {
		for i := 0; i < 5; i++ {
			c.Expect(fb.TopicEvent, fb.ActionEmit)
		}
	}
	for i := 0; i < 5; i++ {
		s.expect("event", "emit", "m")
	}

	// Gauges and counters read while the clients and the stream are open.
	var after map[string]float64
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = scrape(t, srv)
		// The virtual connections of the requests are gone once their
		// handlers returned, which may trail the responses a little.
		if after[`eddy_connections{transport="http"}`] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	delta := func(key string) float64 { return after[key] - before[key] }
	checks := map[string]float64{
		`eddy_connections{transport="tcp"}`:                             3,
		`eddy_connections{transport="ws"}`:                              1,
		`eddy_connections{transport="http"}`:                            0,
		`eddy_connections{transport="sse"}`:                             1,
		`eddy_messages_in_total{action="subscribe",topic="event"}`:      4,
		`eddy_messages_in_total{action="emit",topic="event"}`:           6,
		`eddy_messages_in_total{action="update",topic="record"}`:        1,
		`eddy_messages_in_total{action="login",topic="auth"}`:           4 + 3,
		`eddy_messages_in_total{action="handshake",topic="connection"}`: 4 + 3,
		`eddy_deliveries_total{topic="event"}`:                          5*4 + 5, // subscribers, and the stream's hub
		`eddy_logins_total{result="ok"}`:                                4 + 2 + 1,
		`eddy_logins_total{result="refused"}`:                           1,
		`eddy_permission_denied_total{action="emit",topic="event"}`:     1,
		`eddy_http_api_messages_total{result="ok"}`:                     6,
		`eddy_http_api_messages_total{result="error"}`:                  1,
		`eddy_http_requests_total{code="200",endpoint="api"}`:           2,
		`eddy_http_requests_total{code="401",endpoint="api"}`:           1,
		`eddy_http_requests_total{code="200",endpoint="sse"}`:           0, // counted when the stream ends
		`eddy_http_api_duration_seconds`:                                2,
		`eddy_sse_messages_total`:                                       6, // ready and five events
		`eddy_sse_gaps_total`:                                           0,
		`eddy_slow_consumer_total{outcome="disconnect"}`:                0,
		`eddy_store_writes_total{outcome="synced"}`:                     1,
	}
	for key, want := range checks {
		if got := delta(key); got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	// Bytes and messages out moved at least by what the subscribers got.
	if d := delta("eddy_messages_out_total"); d < 5*4 {
		t.Errorf("messages out moved by %v", d)
	}
	if d := delta("eddy_bytes_out_total"); d < 5*4*20 {
		t.Errorf("bytes out moved by %v", d)
	}
	if d := delta("eddy_bytes_in_total"); d <= 0 {
		t.Errorf("bytes in moved by %v", d)
	}
	if after["eddy_store_batches_total{result=\"ok\"}"] < 1 || after["eddy_records_in_memory"] < 1 {
		t.Errorf("store batches %v, records in memory %v", after[`eddy_store_batches_total{result="ok"}`], after["eddy_records_in_memory"])
	}
	if after["go_goroutines"] <= 0 {
		t.Error("runtime metrics missing")
	}

	// Closing the clients brings the gauges back down.
	for _, c := range subs {
		_ = c.Conn().Close()
	}
	s.close()
	eventually(t, "gauges back to zero", func() bool {
		m := scrape(t, srv)
		return m[`eddy_connections{transport="tcp"}`] == 0 && m[`eddy_connections{transport="ws"}`] == 0 && m[`eddy_connections{transport="sse"}`] == 0
	})
}

func TestHealth(t *testing.T) {
	srv := enginetest.Start(t, nil)
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status      string `json:"status"`
		Release     string `json:"release"`
		Connections int    `json:"connections"`
	}
	if err := jsonDecode(resp, &h); err != nil || resp.StatusCode != 200 || h.Status != "serving" || h.Release != engine.Release {
		t.Fatalf("%d %+v %v", resp.StatusCode, h, err)
	}
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
