// Package netpoll is a netloop back-end on github.com/cloudwego/netpoll:
// epoll pollers fill each connection's zero-copy input buffer, and
// netpoll's goroutine pool runs the connection's handler.
//
// Netpoll runs at most one OnRequest per connection at a time, but wake-ups
// from other goroutines (Transport.Wake) run as tasks on the same goroutine
// pool, so Feed, Flush and Closed of one connection are serialized by a
// per-connection mutex: netloop.Conn's loop-owned state sees one goroutine
// at a time, as the contract requires.
//
// Reading: OnRequest peeks at everything buffered, Feed consumes whole
// frames, the reader skips what Feed used and releases it; an incomplete
// frame stays buffered and OnRequest waits for more bytes.
//
// Writing: Transport.Write copies a flush's bytes into netpoll's output
// buffer (Writer.Malloc) and the goroutine that flushed submits them with
// one Writer.Flush after it has released the mutex. Writer.Flush blocks
// until the peer took everything; bytes flushed meanwhile by other
// goroutines are queued and submitted together when it returns, so a slow
// reader blocks nobody and its backlog shows in Transport.Buffered.
//
// Wake is an atomic flag plus one task on netpoll's goroutine pool: any
// number of wakes before the task runs cost one Flush.
//
// Invariants:
//  1. Closed runs exactly once per connection, from netpoll's close callback.
//  2. Bytes given to Transport.Write leave in order.
//  3. Transport.Close waits for queued bytes, but at most
//     Options.CloseGrace when the peer is not reading.
//
// Start returns once every listener is bound; Stop closes the listeners and
// every connection and waits until each connection's Closed has run.
package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/eddy-realtime/eddy/engine/netloop"
)

// Options tune the netpoll back-end. Zero values mean the defaults.
type Options struct {
	// Loops sets the number of netpoll pollers. Netpoll's pollers are
	// shared by every server in the process, so this is process-wide.
	// Default: netpoll's own (one per 20 CPUs).
	Loops int
	// CloseGrace bounds how long a closing connection waits for its queued
	// bytes to reach a peer that does not read. Default 1s.
	CloseGrace time.Duration
}

// pollers remembers the poller count set, so servers that agree on it do
// not reconfigure netpoll.
var pollers struct {
	sync.Mutex
	n int
}

func setPollers(n int) error {
	pollers.Lock()
	defer pollers.Unlock()
	if n == pollers.n {
		return nil
	}
	if err := netpoll.Configure(netpoll.Config{PollerNum: n, LoadBalance: netpoll.RoundRobin}); err != nil {
		return err
	}
	pollers.n = n
	return nil
}

// Engine is a running netpoll server.
type Engine struct {
	srv    *netloop.Server
	opts   Options
	loops  []netpoll.EventLoop
	addrs  []net.Addr
	served sync.WaitGroup // Serve goroutines
	live   sync.WaitGroup // connections until their Closed

	mu struct {
		sync.Mutex
		conns   map[*conn]struct{}
		stopped bool
	}
}

type ctxKey struct{}

// Start binds every listener of srv and serves them on netpoll.
func Start(srv *netloop.Server, opts Options) (*Engine, error) {
	srv.Options.EnsureDefaults()
	if opts.CloseGrace <= 0 {
		opts.CloseGrace = time.Second
	}
	if len(srv.Listeners) == 0 {
		return nil, errors.New("netpoll: no listeners")
	}
	if opts.Loops > 0 {
		if err := setPollers(opts.Loops); err != nil {
			return nil, fmt.Errorf("netpoll: %w", err)
		}
	}
	e := &Engine{srv: srv, opts: opts}
	e.mu.conns = map[*conn]struct{}{}
	var lns []net.Listener
	for _, l := range srv.Listeners {
		ln, err := listen(e, l.Addr)
		if err == nil {
			var evl netpoll.EventLoop
			evl, err = netpoll.NewEventLoop(e.onRequest,
				netpoll.WithOnPrepare(e.onPrepare(l.Kind)),
				netpoll.WithOnConnect(e.onConnect))
			if err == nil {
				lns = append(lns, ln)
				e.loops = append(e.loops, evl)
				e.addrs = append(e.addrs, ln.Addr())
				continue
			}
			_ = ln.Close()
		}
		for _, prev := range lns {
			_ = prev.Close()
		}
		return nil, fmt.Errorf("netpoll: listener %s: %w", l.Addr, err)
	}
	for i, evl := range e.loops {
		e.served.Add(1)
		go func(evl netpoll.EventLoop, ln net.Listener) {
			defer e.served.Done()
			err := evl.Serve(ln) // returns when Stop shuts the loop down
			e.mu.Lock()
			stopped := e.mu.stopped
			e.mu.Unlock()
			if !stopped {
				if err == nil {
					err = errors.New("netpoll: Serve returned")
				}
				e.srv.ListenerDown(ln.Addr().String(), err)
			}
		}(evl, lns[i])
	}
	return e, nil
}

// countingListener is a netpoll listener that reports accept errors to the
// server's stats (netpoll waits them out itself, detaching the listener
// and retrying with a back-off), and that ends netpoll's retry loop once
// the engine stops: netpoll keeps retrying a closed listener otherwise.
type countingListener struct {
	netpoll.Listener
	e *Engine
}

func listen(e *Engine, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	nl, err := netpoll.ConvertListener(ln)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return &countingListener{Listener: nl, e: e}, nil
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.e.mu.Lock()
		stopped := l.e.mu.stopped
		l.e.mu.Unlock()
		if stopped {
			return nil, nil // netpoll: nothing to accept; its retry loop ends
		}
		l.e.srv.AcceptFailed(err)
	}
	return c, err
}

// Addrs returns the bound listener addresses in Listeners order.
func (e *Engine) Addrs() []net.Addr { return e.addrs }

// Err is nil while every listener accepts (see netloop.Engine).
func (e *Engine) Err() error { return e.srv.Err() }

// Stop stops accepting, closes every connection (each gets Closed and so
// Handler.OnClose) and waits for that, or for ctx.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	if e.mu.stopped {
		e.mu.Unlock()
		return nil
	}
	e.mu.stopped = true
	conns := make([]*conn, 0, len(e.mu.conns))
	for c := range e.mu.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	// Shutdown closes the listener and idle connections; a context that is
	// already done makes it return at once instead of waiting for busy
	// ones, which are closed below.
	now, cancel := context.WithCancel(context.Background())
	cancel()
	for _, evl := range e.loops {
		_ = evl.Shutdown(now)
	}
	for _, c := range conns {
		c.closeSocket()
	}
	done := make(chan struct{})
	go func() { e.live.Wait(); e.served.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("netpoll: stop: %w", ctx.Err())
	}
}

// onPrepare makes the netloop.Conn for a new socket (not yet polled).
func (e *Engine) onPrepare(kind netloop.Kind) netpoll.OnPrepare {
	return func(nc netpoll.Connection) context.Context {
		c := newConn(e, nc, kind)
		e.mu.Lock()
		if e.mu.stopped {
			e.mu.Unlock()
			_ = nc.Close()
			c.c.Closed(nil)
			return context.Background()
		}
		e.mu.conns[c] = struct{}{}
		e.live.Add(1)
		e.mu.Unlock()
		_ = nc.AddCloseCallback(c.onClose)
		return context.WithValue(context.Background(), ctxKey{}, c)
	}
}

// onConnect opens the session; netpoll runs no OnRequest before it returns.
func (e *Engine) onConnect(ctx context.Context, _ netpoll.Connection) context.Context {
	if c, ok := ctx.Value(ctxKey{}).(*conn); ok {
		c.open()
		c.drain()
	}
	return ctx
}

// onRequest feeds everything buffered, keeps an incomplete frame and waits
// for the rest of it.
func (e *Engine) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c, ok := ctx.Value(ctxKey{}).(*conn)
	if !ok {
		return nc.Close()
	}
	r := nc.Reader()
	for {
		n := r.Len()
		if n == 0 {
			return nil
		}
		buf, err := r.Peek(n)
		if err != nil {
			return err
		}
		used := c.feed(buf)
		if used > 0 {
			if err := r.Skip(used); err != nil {
				return err
			}
		}
		_ = r.Release()
		c.drain()
		if used == n {
			return nil
		}
		// Part of a frame is buffered: wait for at least one more byte
		// (netpoll would otherwise call OnRequest again at once).
		if _, err := r.Peek(n - used + 1); err != nil {
			return err
		}
	}
}

func (e *Engine) forget(c *conn) {
	e.mu.Lock()
	delete(e.mu.conns, c)
	e.mu.Unlock()
}
