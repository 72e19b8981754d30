package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/store"
)

// Transport indexes the connection gauges.
type Transport uint8

// Transports as the eddy_connections gauge labels them.
const (
	TransportTCP  Transport = Transport(netloop.TCP)
	TransportWS   Transport = Transport(netloop.WebSocket)
	TransportHTTP Transport = Transport(netloop.HTTP)
	TransportSSE  Transport = 3
	numTransports           = 4
)

var transportNames = [numTransports]string{"tcp", "ws", "http", "sse"}

// numTopics is a power of two above every fb.Topic; larger values count
// under topic 0 ("unknown").
const numTopics = 8

// Config wires a Metrics. Every field is optional.
type Config struct {
	// Store is read at every scrape for the write-behind queue's counters.
	Store func() store.Stats
	// Release labels eddy_build_info.
	Release string
}

// Metrics holds a server's counters and its Prometheus registry.
type Metrics struct {
	reg   *prometheus.Registry
	store func() store.Stats

	conns      [numTransports]atomic.Int64
	in         [numTopics][256]atomicCounter
	denied     [numTopics][256]atomicCounter
	deliveries [numTopics]atomic.Uint64
	logins     [2]atomic.Uint64 // refused, ok
	slow       [2]atomic.Uint64 // disconnected, dropped
	rpcTimeout [2]atomic.Uint64 // response, accept
	outMsgs    atomic.Uint64
	outBytes   atomic.Uint64
	inBytes    atomic.Uint64
	sseSent    atomic.Uint64
	sseGaps    atomic.Uint64
	apiResults [2]atomic.Uint64 // failed, succeeded
	sockets    atomic.Int64
	refused    atomic.Uint64
	acceptErrs atomic.Uint64
	upgradeTO  atomic.Uint64

	httpRequests *prometheus.CounterVec
	apiLatency   prometheus.Histogram
}

// New returns a Metrics with its own registry, holding Eddy's counters and
// the Go runtime and process collectors.
func New(cfg Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), store: cfg.Store}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eddy_http_requests_total",
		Help: "HTTP requests served, by endpoint and status code.",
	}, []string{"endpoint", "code"})
	m.apiLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "eddy_http_api_duration_seconds",
		Help:    "Time to run one POST /api batch, authentication included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "eddy_build_info",
		Help:        "Always 1; the release label names the running build.",
		ConstLabels: prometheus.Labels{"release": cfg.Release},
	})
	build.Set(1)
	m.reg.MustRegister(
		&collector{m: m},
		m.httpRequests,
		m.apiLatency,
		build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the server's registry, for registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// GaugeFunc registers a gauge whose value f returns at every scrape. f must
// be safe from any goroutine. It panics if name is already registered (a
// wiring mistake).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter whose value f returns at every scrape;
// f must be safe from any goroutine and never decrease.
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

func topicIndex(t fb.Topic) int {
	if int(t) >= numTopics {
		return 0
	}
	return int(t)
}

// Connection counts a connection opening or closing (session.Metrics).
func (m *Metrics) Connection(kind netloop.Kind, open bool) {
	m.transport(Transport(kind), open)
}

// Stream counts a server-sent-events stream opening or closing.
func (m *Metrics) Stream(open bool) { m.transport(TransportSSE, open) }

func (m *Metrics) transport(t Transport, open bool) {
	if t >= numTransports {
		return
	}
	if open {
		m.conns[t].Add(1)
	} else {
		m.conns[t].Add(-1)
	}
}

// MessageIn counts one inbound message (session.Metrics).
func (m *Metrics) MessageIn(topic fb.Topic, action fb.Action) {
	m.in[topicIndex(topic)][action].Add(1)
}

// Deliveries counts n fan-out deliveries of one publish (session.Metrics).
func (m *Metrics) Deliveries(topic fb.Topic, n int) {
	if n > 0 {
		m.deliveries[topicIndex(topic)].Add(uint64(n))
	}
}

// Login counts a login's outcome (session.Metrics).
func (m *Metrics) Login(ok bool) {
	if ok {
		m.logins[1].Add(1)
	} else {
		m.logins[0].Add(1)
	}
}

// Denied counts a request refused by the permission rules (session.Metrics).
func (m *Metrics) Denied(topic fb.Topic, action fb.Action) {
	m.denied[topicIndex(topic)][action].Add(1)
}

// SlowConsumer counts a slow-consumer disconnect or a dropped message
// (netloop.Stats).
func (m *Metrics) SlowConsumer(dropped bool) {
	if dropped {
		m.slow[1].Add(1)
	} else {
		m.slow[0].Add(1)
	}
}

// Received counts inbound bytes (netloop.Stats).
func (m *Metrics) Received(bytes int) { m.inBytes.Add(uint64(bytes)) }

// Flushed counts outbound messages and bytes (netloop.Stats).
func (m *Metrics) Flushed(messages, bytes int) {
	m.outMsgs.Add(uint64(messages))
	m.outBytes.Add(uint64(bytes))
}

// Socket counts a socket accepted or gone (netloop.Stats).
func (m *Metrics) Socket(open bool) {
	if open {
		m.sockets.Add(1)
	} else {
		m.sockets.Add(-1)
	}
}

// SocketRefused counts a socket refused past net.maxSockets (netloop.Stats).
func (m *Metrics) SocketRefused() { m.refused.Add(1) }

// AcceptError counts a failed accept the listener backed off from (netloop.Stats).
func (m *Metrics) AcceptError() { m.acceptErrs.Add(1) }

// UpgradeTimeout counts a WebSocket closed before its upgrade request (netloop.Stats).
func (m *Metrics) UpgradeTimeout() { m.upgradeTO.Add(1) }

// RPCTimeout counts an RPC request that failed for lack of an accepting
// provider (accept true) or of a response (accept false). The RPC table's
// deadline handling calls it.
func (m *Metrics) RPCTimeout(accept bool) {
	if accept {
		m.rpcTimeout[1].Add(1)
	} else {
		m.rpcTimeout[0].Add(1)
	}
}

// SSESent counts messages written to server-sent-events streams.
func (m *Metrics) SSESent(n int) { m.sseSent.Add(uint64(n)) }

// SSEGap counts gap messages: a resuming stream whose history no longer
// reached back to its Last-Event-ID.
func (m *Metrics) SSEGap() { m.sseGaps.Add(1) }

// APIMessage counts one message of a POST /api batch by its outcome.
func (m *Metrics) APIMessage(ok bool) {
	if ok {
		m.apiResults[1].Add(1)
	} else {
		m.apiResults[0].Add(1)
	}
}

// HTTPRequest counts one HTTP request by endpoint and status code.
func (m *Metrics) HTTPRequest(endpoint string, code int) {
	m.httpRequests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
}

// APILatency records how long one POST /api batch took.
func (m *Metrics) APILatency(d time.Duration) { m.apiLatency.Observe(d.Seconds()) }

// atomicCounter is one cell of the topic × action tables.
type atomicCounter = atomic.Uint64
