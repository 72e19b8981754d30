// Package stdnet is the portable netloop back-end: goroutines per
// connection over the standard library's net.Conn, optionally inside
// crypto/tls. It runs wherever Go runs and is the reference the other
// back-ends are tested against; it is also the back-end that serves TLS.
//
// Each connection has three goroutines: a reader, which reads into a buffer
// that grows to hold the frame in progress and calls netloop.Conn.Feed and
// Flush, and two wake loops, which wait on one wake channel of capacity 1
// (so wake-ups coalesce) and call Flush. Transport.Write only queues bytes;
// the goroutine that flushed then writes them to the socket itself, with no
// lock held, and keeps writing what other goroutines queue meanwhile. With
// two wake loops one is always free to flush (and so to close a slow
// consumer) while the other writes to a peer that does not read.
//
// Feed, Flush and Closed of one connection are serialized by a
// per-connection mutex: netloop.Conn's loop-owned state sees one goroutine
// at a time, as the contract requires. The mutex is never held during
// socket I/O.
//
// Invariants:
//  1. Closed is called exactly once per connection, by its reader, after
//     the socket is closed; the flusher and writer exit after it.
//  2. Bytes given to Transport.Write leave in order, each flush's bytes with
//     one Write call on the socket (several flushes queued while the writer
//     was busy go out together).
//  3. Transport.Close waits for queued bytes, but at most Options.CloseGrace
//     when the peer is not reading.
//
// Start returns once every listener is bound; Stop closes the listeners and
// every connection and waits for their goroutines.
package stdnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/eddy-realtime/eddy/engine/netloop"
)

// Options tune the stdnet back-end. Zero values mean the defaults.
type Options struct {
	// TLS, when set, makes every listener speak TLS. Default nil: plain TCP.
	TLS *tls.Config
	// ReadBuffer is each connection's initial read buffer in bytes; it grows
	// to hold the largest frame in progress and shrinks back after it.
	// Default 4 KiB.
	ReadBuffer int
	// CloseGrace bounds how long a closing connection waits for its queued
	// bytes to reach a peer that does not read. Default 1s.
	CloseGrace time.Duration
	// HandshakeTimeout bounds the TLS handshake. Default 10s.
	HandshakeTimeout time.Duration
}

func (o *Options) ensureDefaults() {
	if o.ReadBuffer <= 0 {
		o.ReadBuffer = 4 << 10
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
}

// Engine is a running stdnet server.
type Engine struct {
	srv   *netloop.Server
	opts  Options
	lns   []net.Listener
	addrs []net.Addr
	wg    sync.WaitGroup // accept loops and connection goroutines

	mu struct {
		sync.Mutex
		conns   map[*conn]struct{}
		stopped bool
	}
}

// Start binds every listener of srv and serves each accepted connection on
// its own goroutines.
func Start(srv *netloop.Server, opts Options) (*Engine, error) {
	srv.Options.EnsureDefaults()
	opts.ensureDefaults()
	if len(srv.Listeners) == 0 {
		return nil, errors.New("stdnet: no listeners")
	}
	e := &Engine{srv: srv, opts: opts}
	e.mu.conns = map[*conn]struct{}{}
	for _, l := range srv.Listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, prev := range e.lns {
				_ = prev.Close()
			}
			return nil, fmt.Errorf("stdnet: listener %s: %w", l.Addr, err)
		}
		e.addrs = append(e.addrs, ln.Addr())
		if opts.TLS != nil {
			ln = tls.NewListener(ln, opts.TLS)
		}
		e.lns = append(e.lns, ln)
	}
	for i, ln := range e.lns {
		e.wg.Add(1)
		go e.accept(ln, srv.Listeners[i].Kind)
	}
	return e, nil
}

// Addrs returns the bound listener addresses in Listeners order.
func (e *Engine) Addrs() []net.Addr { return e.addrs }

// Err is nil while every listener accepts (see netloop.Engine).
func (e *Engine) Err() error { return e.srv.Err() }

// Stop closes the listeners and every connection (each gets Closed and so
// Handler.OnClose), then waits for all goroutines or ctx.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	e.mu.stopped = true
	conns := make([]*conn, 0, len(e.mu.conns))
	for c := range e.mu.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, ln := range e.lns {
		_ = ln.Close()
	}
	for _, c := range conns {
		c.closeSocket()
	}
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stdnet: stop: %w", ctx.Err())
	}
}

func (e *Engine) accept(ln net.Listener, kind netloop.Kind) {
	defer e.wg.Done()
	failures := 0
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				e.mu.Lock()
				stopped := e.mu.stopped
				e.mu.Unlock()
				if !stopped {
					e.srv.ListenerDown(ln.Addr().String(), err)
				}
				return
			}
			// Out of descriptors or similar: wait a little and retry, as
			// net/http does.
			failures++
			e.srv.AcceptFailed(err)
			time.Sleep(netloop.Backoff(failures))
			continue
		}
		failures = 0
		c := newConn(e, nc, kind)
		e.mu.Lock()
		if e.mu.stopped {
			e.mu.Unlock()
			_ = nc.Close()
			c.c.Closed(nil)
			continue
		}
		e.mu.conns[c] = struct{}{}
		e.wg.Add(3)
		e.mu.Unlock()
		go c.readLoop()
		go c.wakeLoop()
		go c.wakeLoop()
	}
}

func (e *Engine) forget(c *conn) {
	e.mu.Lock()
	delete(e.mu.conns, c)
	e.mu.Unlock()
}
