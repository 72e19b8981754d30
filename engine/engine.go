// Package engine is the running Eddy server: it wires the network loops,
// sessions, tables and HTTP endpoints from one Options value, owns every
// long-lived goroutine, and shuts everything down in order.
//
// Use: srv, err := engine.New(opts, logger); srv.Start(); ...; srv.Shutdown(ctx).
//
// Concurrency: New, Start and Shutdown are called by one goroutine (main);
// Addrs and the accessors are safe from any goroutine after Start returns.
//
// Invariants:
//  1. Every goroutine the server starts goes through goFunc, which refuses
//     new work once Shutdown has begun; Shutdown waits for all of them.
//  2. Shutdown stops accepting first, then closes client connections with
//     CodeServerShutdown, then stops the loops.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/httpapi"
	"github.com/eddy-realtime/eddy/engine/listen"
	"github.com/eddy-realtime/eddy/engine/metrics"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/presence"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/engine/rpc"
	"github.com/eddy-realtime/eddy/engine/session"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/store"
	"github.com/eddy-realtime/eddy/valve"
)

// Release is the server's version string, set at build time with
// -ldflags "-X github.com/eddy-realtime/eddy/engine.Release=v1.2.3".
var Release = "dev"

// Server is one Eddy node.
type Server struct {
	opts Options
	log  *slog.Logger

	events       *event.Table
	rpc          *rpc.Table
	presence     *presence.Table
	listen       *listen.Registry // event listening
	recordListen *listen.Registry
	records      *record.Table
	store        store.Store
	valve        *valve.Watcher
	sessions     *session.Manager
	loops        netloop.Engine

	cluster        *cluster.Node // nil unless cluster.nats is set
	clusterListens []*clusterListen

	metrics *metrics.Metrics
	auth    session.Authenticator
	perms   func() session.Authorizer
	api     *httpapi.API
	httpSrv *http.Server
	httpLn  net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		stopping bool
	}
	state atomic.Int32

	shutdownOnce sync.Once
	shutdownErr  error

	wsAddr, tcpAddr string
}

// Server states reported by /health.
const (
	stateStarting int32 = iota
	stateServing
	stateDraining
)

// New validates opts and builds a server; nothing listens until Start.
func New(opts Options, logger *slog.Logger) (*Server, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{opts: opts, log: logger, events: event.New(), presence: presence.New()}
	s.listen = listen.New(fb.TopicEvent, s.events)
	rc := rpcConfig(opts.RPC)
	rc.OnTimeout = func(accept bool) { s.metrics.RPCTimeout(accept) } // metrics exist before any request
	s.rpc = rpc.New(rc)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	chain, err := auth.New(opts.Auth, auth.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("engine: auth: %w", err)
	}
	var permissions func() session.Authorizer
	if opts.Valve.Path != "" {
		w, err := valve.Watch(opts.Valve.Path, opts.Valve.ReloadInterval, func(err error) {
			logger.Error("permissions file not reloaded; the previous rules stay", "err", err)
		})
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		s.valve = w
		permissions = func() session.Authorizer { return w.Rules() }
	}
	st, err := openStore(opts.Store)
	if err != nil {
		if s.valve != nil {
			s.valve.Close()
		}
		return nil, err
	}
	s.store = st
	s.metrics = metrics.New(metrics.Config{Store: st.Stats, Release: Release})
	s.metrics.GaugeFunc("eddy_records_in_memory", "Records held in memory.", func() float64 { return float64(s.records.Len()) })
	s.metrics.GaugeFunc("eddy_rpc_pending", "RPC requests in flight.", func() float64 { return float64(s.rpc.Pending()) })
	s.auth, s.perms = newAuthenticator(chain), permissions
	s.records = record.New(persister{st}, s.goFunc, record.Options{MaxRecords: opts.Store.MaxRecords, MaxDocument: opts.Net.MaxFrame - 4096})
	s.recordListen = listen.New(fb.TopicRecord, s.records)
	s.recordListen.OnProvider(func(name string, has bool) {
		m := msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSubscriptionHasProvider, Name: name, HasVersion: true}
		if has {
			m.Version = 1
		}
		s.records.Broadcast(name, msg.Append(nil, &m))
	})
	s.sessions = session.NewManager(session.Config{
		Options:      opts.Session,
		Auth:         s.auth,
		Events:       s.events,
		Records:      s.records,
		RPC:          s.rpc,
		Presence:     s.presence,
		EventListen:  s.listen,
		RecordListen: s.recordListen,
		Permissions:  permissions,
		Reader:       recordReader{st},
		Logger:       logger,
		Metrics:      s.metrics,
		Go:           s.goFunc,
		Release:      Release,
	})
	if opts.Cluster.NATS != "" {
		if err := s.joinCluster(); err != nil {
			if s.valve != nil {
				s.valve.Close()
			}
			_ = st.Close()
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	return s, nil
}

// goFunc runs f on a new goroutine labelled name, unless shutdown has begun.
func (s *Server) goFunc(name string, f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopping {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pprof.Do(s.ctx, pprof.Labels("eddy", name), func(context.Context) { f() })
	}()
	return true
}

// Start binds every listener and starts serving.
func (s *Server) Start() error {
	var listeners []netloop.Listener
	if s.opts.Net.WSAddr != Off {
		listeners = append(listeners, netloop.Listener{Kind: netloop.WebSocket, Addr: s.opts.Net.WSAddr})
	}
	if s.opts.Net.TCPAddr != Off {
		listeners = append(listeners, netloop.Listener{Kind: netloop.TCP, Addr: s.opts.Net.TCPAddr})
	}
	nsrv := &netloop.Server{
		Handler:   s.sessions,
		Listeners: listeners,
		Options: netloop.Options{
			MaxFrame:       s.opts.Net.MaxFrame,
			MaxQueue:       s.opts.Net.MaxQueue,
			CompressMin:    s.opts.Net.CompressMin,
			DisableDeflate: !*s.opts.Net.Deflate,
			UpgradeTimeout: s.opts.Session.HandshakeTimeout,
		},
	}
	if s.opts.Net.SlowConsumer == "drop" {
		nsrv.Options.SlowPolicy = netloop.Drop
	}
	nsrv.Stats = s.metrics
	s.api = httpapi.New(httpapi.Config{
		Options:       s.opts.HTTP.api(),
		Handler:       s.sessions,
		Net:           nsrv.Options,
		Stats:         s.metrics,
		Health:        s.health,
		Metrics:       s.metrics,
		Auth:          s.auth,
		Permissions:   s.perms,
		Reader:        recordReader{s.store},
		Events:        s.events,
		Records:       s.records,
		Listen:        s.listen,
		MaxNameLength: s.opts.Session.MaxNameLength,
		Go:            s.goFunc,
		Logger:        s.log,
	})
	if s.opts.HTTP.Addr != Off {
		ln, err := net.Listen("tcp", s.opts.HTTP.Addr)
		if err != nil {
			_ = s.store.Close()
			return fmt.Errorf("engine: http listener: %w", err)
		}
		s.httpLn = ln
	}
	loops, err := s.startLoops(nsrv)
	if err != nil {
		if s.httpLn != nil {
			_ = s.httpLn.Close()
		}
		_ = s.store.Close()
		return fmt.Errorf("engine: %w", err)
	}
	s.loops = loops
	for i, a := range loops.Addrs() {
		if listeners[i].Kind == netloop.WebSocket {
			s.wsAddr = a.String()
		} else {
			s.tcpAddr = a.String()
		}
	}
	if s.cluster != nil {
		// An unreachable NATS is not an error: the node serves its own
		// clients and joins when NATS appears.
		if err := s.cluster.Start(); err != nil {
			_ = s.loops.Stop(context.Background())
			if s.httpLn != nil {
				_ = s.httpLn.Close()
			}
			_ = s.store.Close()
			return fmt.Errorf("engine: %w", err)
		}
		for _, cl := range s.clusterListens {
			cl.start(s.opts.Cluster.Heartbeat)
		}
	}
	s.goFunc("sweeper", func() { s.sessions.Run(s.ctx) })
	s.goFunc("rpc-deadlines", func() { s.rpc.Run(s.ctx) })
	if s.httpLn != nil {
		s.goFunc("sse-janitor", func() { s.api.Run(s.ctx) })
		s.httpSrv = s.api.Server()
		ln := nsrv.Listen(s.httpLn) // HTTP sockets count against the socket budget
		s.goFunc("http", func() {
			if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("http server failed", "err", err)
			}
		})
	}
	s.state.Store(stateServing)
	data := s.opts.Store.Path
	if s.opts.Store.Engine == "memory" {
		data = "(memory)"
	}
	s.log.Info("eddy serving", "release", Release, "ws", s.wsAddr, "tcp", s.tcpAddr, "http", s.HTTPAddr(), "data", data, "backend", s.opts.Net.Backend, "cluster", s.opts.Cluster.Node)
	return nil
}

// WSAddr is the bound WebSocket address ("" when off).
func (s *Server) WSAddr() string { return s.wsAddr }

// TCPAddr is the bound raw TCP address ("" when off).
func (s *Server) TCPAddr() string { return s.tcpAddr }

// HTTPAddr is the bound HTTP address ("" when off).
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Connections returns the number of open client connections.
func (s *Server) Connections() int { return s.sessions.Count() }

// Records exposes the record table (for tests and the HTTP API).
func (s *Server) Records() *record.Table { return s.records }

// Store exposes the record store (for tests).
func (s *Server) Store() store.Store { return s.store }

// Events exposes the event table (for tests and the HTTP API).
func (s *Server) Events() *event.Table { return s.events }

// RPC exposes the rpc table (for tests and metrics).
func (s *Server) RPC() *rpc.Table { return s.rpc }

// Presence exposes the presence table (for tests and metrics).
func (s *Server) Presence() *presence.Table { return s.presence }

// RecordListeners exposes the record listen registry (for tests and metrics).
func (s *Server) RecordListeners() *listen.Registry { return s.recordListen }

// EventListeners exposes the event listen registry (for tests and metrics).
func (s *Server) EventListeners() *listen.Registry { return s.listen }

func rpcConfig(o RPCOptions) rpc.Config {
	c := rpc.Config{AcceptTimeout: o.AcceptTimeout, ResponseTimeout: o.ResponseTimeout, ExposeRequester: o.ExposeRequester,
		MaxTimeout: o.MaxTimeout, MaxPending: o.MaxPending, MaxPendingBytes: o.MaxPendingBytes,
		MaxPendingPerConn: o.MaxPendingPerConnection, MaxPendingBytesPerConn: o.MaxPendingBytesPerConnection}
	if o.Selection == "random" {
		c.Selection = rpc.Random
	}
	return c
}

// Shutdown drains the server: it reports draining on /health, closes every
// client with CodeServerShutdown, stops the loops, stops the HTTP server and
// waits for every goroutine, or returns ctx's error.
//
// Shutdown may be called more than once; later calls wait for the first and
// return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.state.Store(stateDraining)
	if s.api != nil {
		s.api.Drain() // end event streams, refuse new API requests
	}
	s.sessions.Shutdown()
	var errs []error
	if s.loops != nil {
		// Give queued close messages a moment to reach the wire.
		if err := waitFor(ctx, func() bool { return s.sessions.Count() == 0 }, 500*time.Millisecond); err != nil {
			errs = append(errs, err)
		}
		if err := s.loops.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.cluster != nil {
		s.cluster.Close() // goodbye: the others drop this node's users and providers at once
	}
	s.mu.Lock()
	s.mu.stopping = true
	s.mu.Unlock()
	s.cancel()
	if s.httpSrv != nil {
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	} else if s.httpLn != nil {
		_ = s.httpLn.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	if s.valve != nil {
		s.valve.Close()
	}
	// Every session is gone, so no write can arrive: flush and close.
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("engine: store: %w", err))
	}
	return errors.Join(errs...)
}

// waitFor polls cond until it holds, max passes, or ctx ends.
func waitFor(ctx context.Context, cond func() bool, max time.Duration) error {
	deadline := time.Now().Add(max)
	for !cond() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
