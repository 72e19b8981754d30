package engine

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/httpapi"
	"github.com/eddy-realtime/eddy/engine/session"
)

// Options is the whole server configuration. Zero values mean the
// documented defaults; EnsureDefaults fills them in. engine/config reads it
// from YAML, environment variables and flags.
type Options struct {
	Net     NetOptions      `yaml:"net"`
	HTTP    HTTPOptions     `yaml:"http"`
	Session session.Options `yaml:"session"`
	Store   StoreOptions    `yaml:"store"`
	Auth    auth.Config     `yaml:"auth"`
	Valve   ValveOptions    `yaml:"valve"`
	RPC     RPCOptions      `yaml:"rpc"`
	Log     LogOptions      `yaml:"log"`
	Cluster ClusterOptions  `yaml:"cluster"`
}

// StoreOptions configure record storage.
type StoreOptions struct {
	// Engine is "pebble" (on disk) or "memory" (nothing survives a
	// restart). Default "pebble".
	Engine string `yaml:"engine"`
	// Path is the Pebble data directory. Default "./eddy-data".
	Path string `yaml:"path"`
	// FlushInterval is how long writes gather before a synced batch
	// commit. Default 0: commit as soon as the writer is free, so batches
	// form from the writes that arrive while a commit is in flight (measured
	// 4x-12x more acknowledged writes per second than waiting 2ms, at a
	// quarter of the latency).
	FlushInterval time.Duration `yaml:"flushInterval"`
	// MaxQueueBytes bounds writes waiting for their commit. Default 64 MiB.
	MaxQueueBytes int `yaml:"maxQueueBytes"`
	// NoSync commits without fsync: faster, but a crash may lose
	// acknowledged writes. Default false.
	NoSync bool `yaml:"noSync"`
	// MaxRecords is the most records kept in memory; idle ones beyond it
	// are evicted and reloaded on demand. Default 100000.
	MaxRecords int `yaml:"maxRecords"`
}

// NetOptions configure the client listeners.
type NetOptions struct {
	// WSAddr is the WebSocket listener (any path). Default ":6020"; "off" disables it.
	WSAddr string `yaml:"wsAddr"`
	// TCPAddr is the raw TCP listener. Default ":6021"; "off" disables it.
	TCPAddr string `yaml:"tcpAddr"`
	// Backend is the event-loop engine: "gnet", "netpoll" or "stdnet"
	// (see Backends). Default "gnet", or "stdnet" when TLS is set: only
	// stdnet serves TLS.
	Backend string `yaml:"backend"`
	// Loops is the number of event loops. Default: one per CPU. With
	// netpoll it sets netpoll's pollers (process-wide; default netpoll's own,
	// one per 20 CPUs); stdnet has no loops and ignores it.
	Loops int `yaml:"loops"`
	// MaxFrame is the largest inbound message in bytes. Default 1048576.
	MaxFrame int `yaml:"maxFrame"`
	// MaxQueue is each connection's outbound queue cap in bytes. Default 8388608.
	MaxQueue int `yaml:"maxQueue"`
	// SlowConsumer is what happens when a queue is full: "disconnect" or
	// "drop". Default "disconnect".
	SlowConsumer string `yaml:"slowConsumer"`
	// Deflate enables WebSocket permessage-deflate. Default true.
	Deflate *bool `yaml:"deflate"`
	// CompressMin is the smallest outbound message compressed on deflate
	// connections, in bytes. Default 512.
	CompressMin int `yaml:"compressMin"`
	// TLS makes both client listeners speak TLS (stdnet back-end only).
	TLS TLSOptions `yaml:"tls"`
}

// TLSOptions configure TLS on the WebSocket and TCP listeners.
type TLSOptions struct {
	// Cert is a PEM certificate file, leaf first, intermediates after.
	// Default "": no TLS.
	Cert string `yaml:"cert"`
	// Key is the PEM private key file for Cert. Default "".
	Key string `yaml:"key"`
}

// Backends lists the values net.backend accepts.
func Backends() []string { return []string{"gnet", "netpoll", "stdnet"} }

// HTTPOptions configure the HTTP listener: POST /api, GET /sse, GET
// /health and GET /metrics (docs/http.md).
type HTTPOptions struct {
	// Addr is the HTTP listener. Default ":8080"; "off" disables it.
	Addr string `yaml:"addr"`
	// MaxBody bounds a POST /api body in bytes. Default 1048576.
	MaxBody int `yaml:"maxBody"`
	// MaxMessages bounds the messages of one POST /api. Default 100.
	MaxMessages int `yaml:"maxMessages"`
	// Timeout bounds one POST /api (login and every message) and the
	// setup of a stream. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// SSEHistory is how many changes are kept per streamed name for
	// streams resuming with Last-Event-ID. Default 1000.
	SSEHistory int `yaml:"sseHistory"`
	// SSERetention is how long a streamed name stays watched, its history
	// kept, after its last stream ended. Default 5m.
	SSERetention time.Duration `yaml:"sseRetention"`
	// SSEHeartbeat is the interval of keep-alive comments on idle streams.
	// Default 15s.
	SSEHeartbeat time.Duration `yaml:"sseHeartbeat"`
	// SSEMaxNames bounds the names one stream watches. Default 100.
	SSEMaxNames int `yaml:"sseMaxNames"`
	// SSEMaxStreams bounds concurrent streams. Default 10000.
	SSEMaxStreams int `yaml:"sseMaxStreams"`
	// SSEMaxWatched bounds the names watched by all streams together,
	// retained ones included. Default 100000.
	SSEMaxWatched int `yaml:"sseMaxWatched"`
}

// api returns the options of the HTTP endpoints.
func (o *HTTPOptions) api() httpapi.Options {
	return httpapi.Options{MaxBody: o.MaxBody, MaxMessages: o.MaxMessages, Timeout: o.Timeout,
		SSEHistory: o.SSEHistory, SSERetention: o.SSERetention, SSEHeartbeat: o.SSEHeartbeat,
		SSEMaxNames: o.SSEMaxNames, SSEMaxStreams: o.SSEMaxStreams, SSEMaxWatched: o.SSEMaxWatched}
}

func (o *HTTPOptions) ensureDefaults() {
	if o.Addr == "" {
		o.Addr = ":8080"
	}
	a := o.api()
	a.EnsureDefaults()
	o.MaxBody, o.MaxMessages, o.Timeout = a.MaxBody, a.MaxMessages, a.Timeout
	o.SSEHistory, o.SSERetention, o.SSEHeartbeat = a.SSEHistory, a.SSERetention, a.SSEHeartbeat
	o.SSEMaxNames, o.SSEMaxStreams, o.SSEMaxWatched = a.SSEMaxNames, a.SSEMaxStreams, a.SSEMaxWatched
}

// ValveOptions configure permissions.
type ValveOptions struct {
	// Path is the permissions file (YAML, see docs/valve.md). Default ""
	// uses the built-in rules, which allow everything.
	Path string `yaml:"path"`
	// ReloadInterval is how often the file is checked for changes. A
	// changed file that fails to load is reported and the rules in force
	// stay. Default 2s.
	ReloadInterval time.Duration `yaml:"reloadInterval"`
}

// RPCOptions configure remote procedure calls.
type RPCOptions struct {
	// Selection is how a request's provider is chosen among a name's
	// providers: "roundrobin" or "random". Default "roundrobin".
	Selection string `yaml:"selection"`
	// AcceptTimeout is how long a provider has to accept a request before
	// it goes to the next provider. Default 1s.
	AcceptTimeout time.Duration `yaml:"acceptTimeout"`
	// ResponseTimeout is how long the provider that accepted a request has
	// to respond, counted from when it was sent the request. Default 10s.
	ResponseTimeout time.Duration `yaml:"responseTimeout"`
	// ExposeRequester tells providers the requester's user name. Default false.
	ExposeRequester bool `yaml:"exposeRequester"`
	// MaxTimeout caps the response (and accept) timeout a requester may
	// ask for. Default 60s.
	MaxTimeout time.Duration `yaml:"maxTimeout"`
	// MaxPending and MaxPendingBytes bound the requests in flight on the
	// server, by count and by bytes of name and data. Defaults 100000 and
	// 268435456.
	MaxPending      int `yaml:"maxPending"`
	MaxPendingBytes int `yaml:"maxPendingBytes"`
	// MaxPendingPerConnection and MaxPendingBytesPerConnection bound the
	// requests one connection has in flight. Defaults 1000 and 16777216.
	MaxPendingPerConnection      int `yaml:"maxPendingPerConnection"`
	MaxPendingBytesPerConnection int `yaml:"maxPendingBytesPerConnection"`
}

// LogOptions configure structured logging.
type LogOptions struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is "text" or "json". Default "text".
	Format string `yaml:"format"`
}

// Off disables a listener when used as its address.
const Off = "off"

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Net.WSAddr == "" {
		o.Net.WSAddr = ":6020"
	}
	if o.Net.TCPAddr == "" {
		o.Net.TCPAddr = ":6021"
	}
	if o.Net.Backend == "" {
		o.Net.Backend = "gnet"
		if o.Net.TLS.Cert != "" || o.Net.TLS.Key != "" {
			o.Net.Backend = "stdnet"
		}
	}
	if o.Net.MaxFrame <= 0 {
		o.Net.MaxFrame = 1 << 20
	}
	if o.Net.MaxQueue <= 0 {
		o.Net.MaxQueue = 8 << 20
	}
	if o.Net.SlowConsumer == "" {
		o.Net.SlowConsumer = "disconnect"
	}
	if o.Net.Deflate == nil {
		t := true
		o.Net.Deflate = &t
	}
	if o.Net.CompressMin == 0 {
		o.Net.CompressMin = 512
	}
	o.HTTP.ensureDefaults()
	if o.Store.Engine == "" {
		o.Store.Engine = "pebble"
	}
	if o.Store.Path == "" {
		o.Store.Path = "./eddy-data"
	}
	if o.Store.MaxQueueBytes <= 0 {
		o.Store.MaxQueueBytes = 64 << 20
	}
	if o.Store.MaxRecords <= 0 {
		o.Store.MaxRecords = 100000
	}
	if o.Valve.ReloadInterval <= 0 {
		o.Valve.ReloadInterval = 2 * time.Second
	}
	if o.Log.Level == "" {
		o.Log.Level = "info"
	}
	if o.Log.Format == "" {
		o.Log.Format = "text"
	}
	if o.RPC.Selection == "" {
		o.RPC.Selection = "roundrobin"
	}
	if o.RPC.AcceptTimeout <= 0 {
		o.RPC.AcceptTimeout = time.Second
	}
	if o.RPC.ResponseTimeout <= 0 {
		o.RPC.ResponseTimeout = 10 * time.Second
	}
	if o.RPC.MaxTimeout <= 0 {
		o.RPC.MaxTimeout = time.Minute
	}
	if o.RPC.MaxPending <= 0 {
		o.RPC.MaxPending = 100000
	}
	if o.RPC.MaxPendingBytes <= 0 {
		o.RPC.MaxPendingBytes = 256 << 20
	}
	if o.RPC.MaxPendingPerConnection <= 0 {
		o.RPC.MaxPendingPerConnection = 1000
	}
	if o.RPC.MaxPendingBytesPerConnection <= 0 {
		o.RPC.MaxPendingBytesPerConnection = 16 << 20
	}
	o.Session.EnsureDefaults()
	o.Cluster.ensureDefaults()
}

// Validate reports the first invalid setting (call after EnsureDefaults).
func (o *Options) Validate() error {
	var errs []error
	for _, a := range []struct{ key, val string }{{"net.wsAddr", o.Net.WSAddr}, {"net.tcpAddr", o.Net.TCPAddr}, {"http.addr", o.HTTP.Addr}} {
		if a.val == Off {
			continue
		}
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port or %q", a.key, a.val, Off))
		}
	}
	if o.Net.WSAddr == Off && o.Net.TCPAddr == Off {
		errs = append(errs, errors.New("net: both listeners are off"))
	}
	if !slices.Contains(Backends(), o.Net.Backend) {
		errs = append(errs, fmt.Errorf("net.backend: %q is not one of: %s", o.Net.Backend, strings.Join(Backends(), ", ")))
	}
	if (o.Net.TLS.Cert == "") != (o.Net.TLS.Key == "") {
		errs = append(errs, errors.New("net.tls: cert and key must be set together"))
	}
	if o.Net.TLS.Cert != "" && o.Net.Backend != "stdnet" {
		errs = append(errs, fmt.Errorf("net.tls: TLS is served by the stdnet back-end only, not %q: set net.backend to stdnet", o.Net.Backend))
	}
	if o.Net.SlowConsumer != "disconnect" && o.Net.SlowConsumer != "drop" {
		errs = append(errs, fmt.Errorf("net.slowConsumer: %q is not disconnect or drop", o.Net.SlowConsumer))
	}
	if err := o.Auth.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("auth: %w", err))
	}
	if o.Store.Engine != "pebble" && o.Store.Engine != "memory" {
		errs = append(errs, fmt.Errorf("store.engine: %q is not pebble or memory", o.Store.Engine))
	}
	switch o.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", o.Log.Level))
	}
	if o.Log.Format != "text" && o.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", o.Log.Format))
	}
	if o.Session.Heartbeat < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("session.heartbeat: %s is too short", o.Session.Heartbeat))
	}
	if o.RPC.Selection != "roundrobin" && o.RPC.Selection != "random" {
		errs = append(errs, fmt.Errorf("rpc.selection: %q is not roundrobin or random", o.RPC.Selection))
	}
	if err := o.Cluster.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
