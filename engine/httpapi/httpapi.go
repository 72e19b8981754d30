package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/metrics"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/engine/session"
	"github.com/eddy-realtime/eddy/valve"
)

// Options tune the HTTP endpoints. Zero values mean the documented defaults.
type Options struct {
	// MaxBody bounds a POST /api body in bytes. Default 1 MiB.
	MaxBody int
	// MaxMessages bounds the messages of one POST /api. Default 100.
	MaxMessages int
	// Timeout bounds one POST /api batch, login included. Default 10s.
	Timeout time.Duration
	// SSEHistory is how many changes are kept per watched name for streams
	// that resume with Last-Event-ID. Default 1000.
	SSEHistory int
	// SSERetention is how long a name stays watched (and its history kept)
	// after its last stream ended. Default 5m.
	SSERetention time.Duration
	// SSEHeartbeat is the interval of the comment lines that keep idle
	// streams open through proxies. Default 15s.
	SSEHeartbeat time.Duration
	// SSEMaxNames bounds the names one stream may watch. Default 100.
	SSEMaxNames int
	// SSEMaxStreams bounds concurrent streams. Default 10000.
	SSEMaxStreams int
	// SSEMaxWatched bounds the names watched by all streams together,
	// retained ones included. Default 100000.
	SSEMaxWatched int
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.SSEHistory <= 0 {
		o.SSEHistory = 1000
	}
	if o.SSERetention <= 0 {
		o.SSERetention = 5 * time.Minute
	}
	if o.SSEHeartbeat <= 0 {
		o.SSEHeartbeat = 15 * time.Second
	}
	if o.SSEMaxNames <= 0 {
		o.SSEMaxNames = 100
	}
	if o.SSEMaxStreams <= 0 {
		o.SSEMaxStreams = 10000
	}
	if o.SSEMaxWatched <= 0 {
		o.SSEMaxWatched = 100000
	}
}

// Health is what GET /health reports.
type Health struct {
	Status      string // "starting", "serving", "draining" or "failed"
	Serving     bool   // 200 when true, 503 otherwise
	Release     string
	Connections int
	Cluster     map[string]any // cluster state; nil when not clustered
	Error       string         // why the server failed ("" unless Status is "failed")
}

// Listener is told when a watched event name gains its first subscriber
// or loses its last one (the event listen registry).
type Listener interface {
	Subscribed(name string)
	Unsubscribed(name string)
}

// Config wires an API to the server.
type Config struct {
	Options Options
	// Handler runs the virtual connections of POST /api (the session
	// manager); Net and Stats are the client connections' settings and
	// counters, which virtual connections share.
	Handler netloop.Handler
	Net     netloop.Options
	Stats   netloop.Stats
	// Health reports the server's state for GET /health.
	Health func() Health
	// Metrics serves GET /metrics and counts requests; nil serves 404.
	Metrics *metrics.Metrics
	// Auth, Permissions and Reader decide who may open which stream, as
	// the session layer does for connections. Permissions nil allows all.
	Auth        session.Authenticator
	Permissions func() session.Authorizer
	Reader      valve.RecordReader
	// Events and Records are the tables streams watch.
	Events  *event.Table
	Records *record.Table
	// Listen, when set, hears about event names streams start and stop
	// watching.
	Listen Listener
	// MaxNameLength bounds names in streams (session.maxNameLength).
	MaxNameLength int
	// Go runs a goroutine owned by the server; false once it shuts down.
	Go     func(name string, f func()) bool
	Logger *slog.Logger
}

// API serves the HTTP endpoints: POST /api, GET /sse, GET /health and
// GET /metrics.
type API struct {
	cfg      Config
	opts     Options
	log      *slog.Logger
	net      *netloop.Server
	hub      *hub
	mux      *http.ServeMux
	draining atomic.Bool
	streams  atomic.Int64
}

// New returns an API; call Run on a goroutine to expire stream histories.
func New(cfg Config) *API {
	cfg.Options.EnsureDefaults()
	cfg.Net.EnsureDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Go == nil {
		cfg.Go = func(_ string, f func()) bool { go f(); return true }
	}
	if cfg.MaxNameLength <= 0 {
		cfg.MaxNameLength = 512
	}
	if cfg.Auth == nil {
		cfg.Auth = session.Open{}
	}
	a := &API{cfg: cfg, opts: cfg.Options, log: cfg.Logger}
	a.net = &netloop.Server{Handler: cfg.Handler, Options: cfg.Net, Stats: cfg.Stats}
	a.hub = newHub(&a.cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("POST /api", a.serveAPI)
	mux.HandleFunc("/api", methodNotAllowed("POST"))
	mux.HandleFunc("GET /sse", a.serveSSE)
	mux.HandleFunc("/sse", methodNotAllowed("GET"))
	if cfg.Metrics != nil {
		h := cfg.Metrics.Handler()
		mux.Handle("GET /metrics", h)
	}
	a.mux = mux
	return a
}

// Server returns an http.Server serving the API whose connections are all
// bounded in time by Options.Timeout (http.timeout): a request's header and
// its whole body must arrive within it (an event stream lifts the bound once
// its request is read), and a keep-alive connection with no request for six
// times as long is closed.
func (a *API) Server() *http.Server {
	t := a.opts.Timeout
	return &http.Server{Handler: a, ReadHeaderTimeout: t, ReadTimeout: t, IdleTimeout: 6 * t}
}

// Run expires the histories of names no stream has watched for
// SSERetention, until ctx ends or Drain is called. Run it on one goroutine.
func (a *API) Run(ctx context.Context) { a.hub.Run(ctx) }

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Metrics == nil {
		a.mux.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	a.mux.ServeHTTP(sw, r)
	a.cfg.Metrics.HTTPRequest(endpointOf(r.URL.Path), sw.code)
}

// Drain makes POST /api and GET /sse answer 503 and ends every stream, so
// an HTTP server shutdown does not wait for them. Safe from any goroutine.
func (a *API) Drain() {
	a.draining.Store(true)
	a.hub.close()
}

func endpointOf(path string) string {
	switch path {
	case "/api", "/sse", "/health", "/metrics":
		return path[1:]
	}
	return "other"
}

// statusWriter remembers the status code for the request counter.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// health answers 200 while serving and 503 while starting or draining,
// with a JSON body describing the state.
func (a *API) health(w http.ResponseWriter, _ *http.Request) {
	h := Health{Status: "serving", Serving: true}
	if a.cfg.Health != nil {
		h = a.cfg.Health()
	}
	code := http.StatusOK
	if !h.Serving {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body := map[string]any{
		"status":      h.Status,
		"release":     h.Release,
		"connections": h.Connections,
	}
	if h.Cluster != nil {
		body["cluster"] = h.Cluster
	}
	if h.Error != "" {
		body["error"] = h.Error
	}
	_ = json.NewEncoder(w).Encode(body)
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", 0, r.Method+" "+r.URL.Path+" is not served; use "+allow)
	}
}

// errorBody is the JSON of a request that failed as a whole.
type errorBody struct {
	Result  string `json:"result"`
	Error   string `json:"error"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

// writeError answers a request that failed as a whole.
func writeError(w http.ResponseWriter, status int, name string, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Result: "FAILURE", Error: name, Code: code, Message: message})
}
