// Package gnet is the default netloop back-end, on github.com/panjf2000/gnet/v2
// (epoll event loops, one per core by default).
//
// Each gnet loop owns its connections: OnTraffic and wake-ups for a
// connection run on its loop goroutine, where they call netloop.Conn's Feed
// and Flush. Other goroutines reach a connection only through
// netloop.Conn.Send/Post/CloseWith, which end in Transport.Wake (gnet's
// Conn.Wake: a lock-free task queue plus one eventfd write per loop wake-up).
//
// Start returns once every listener is bound; Stop shuts the engine down.
// The listeners are the standard library's (see Engine), so an accept error
// never stops the event loops.
package gnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/eddy-realtime/eddy/engine/netloop"
)

// Options tune the gnet back-end. Zero values mean the defaults.
type Options struct {
	// Loops is the number of event loops. Default: one per CPU.
	Loops int
	// ReadBufferCap is each loop's read buffer. Default 64 KiB.
	ReadBufferCap int
	// Logger receives gnet's own messages. Default slog.Default().
	Logger *slog.Logger
}

// Engine is a running gnet server.
//
// gnet's own acceptor shuts the whole engine down on the first accept error
// it does not expect, EMFILE included, dropping every connection. So the
// listeners are the standard library's: one goroutine per listener accepts,
// backs off on errors as net/http does, and hands each socket to gnet's
// event loops (gnet.Client.EnrollContext, which takes a duplicate of the
// descriptor and closes the original).
type Engine struct {
	srv      *netloop.Server
	opts     Options
	cli      *gnet.Client
	lns      []net.Listener
	addrs    []net.Addr
	stopping atomic.Bool
	accepts  sync.WaitGroup
	stopMu   sync.Mutex
	stopped  chan struct{}
	stopErr  error
}

var _ netloop.Engine = (*Engine)(nil)

// Start binds every listener of srv and serves them on gnet event loops.
func Start(srv *netloop.Server, opts Options) (*Engine, error) {
	srv.Options.EnsureDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(srv.Listeners) == 0 {
		return nil, errors.New("gnet: no listeners")
	}
	e := &Engine{srv: srv, opts: opts}
	for _, l := range srv.Listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, prev := range e.lns {
				_ = prev.Close()
			}
			return nil, fmt.Errorf("gnet: listener %s: %w", l.Addr, err)
		}
		e.lns = append(e.lns, ln)
		e.addrs = append(e.addrs, ln.Addr())
	}
	gopts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(slogAdapter{l: opts.Logger}),
	}
	if opts.Loops > 0 {
		gopts = append(gopts, gnet.WithNumEventLoop(opts.Loops))
	}
	if opts.ReadBufferCap > 0 {
		gopts = append(gopts, gnet.WithReadBufferCap(opts.ReadBufferCap))
	}
	cli, err := gnet.NewClient(&handler{e: e}, gopts...)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		for _, ln := range e.lns {
			_ = ln.Close()
		}
		return nil, fmt.Errorf("gnet: %w", err)
	}
	e.cli = cli
	for i, ln := range e.lns {
		e.accepts.Add(1)
		go e.accept(ln, srv.Listeners[i].Kind)
	}
	return e, nil
}

// accept hands every socket ln accepts to the event loops. An accept error
// (out of descriptors, say) is waited out, 5 ms doubling to 1 s; only a
// listener closed by someone other than Stop ends the loop early, and Err
// reports it.
func (e *Engine) accept(ln net.Listener, kind netloop.Kind) {
	defer e.accepts.Done()
	failures := 0
	for {
		nc, err := ln.Accept()
		if err == nil {
			// Enrolling duplicates the descriptor, which can fail for want
			// of one too: the socket is closed then, and the loop backs off.
			_, err = e.cli.EnrollContext(nc, kind)
			if err == nil {
				failures = 0
				continue
			}
		}
		if errors.Is(err, net.ErrClosed) {
			if !e.stopping.Load() {
				e.srv.ListenerDown(ln.Addr().String(), err)
			}
			return
		}
		if e.stopping.Load() {
			return
		}
		failures++
		e.srv.AcceptFailed(err)
		time.Sleep(netloop.Backoff(failures))
	}
}

// Addrs returns the bound listener addresses in Listeners order.
func (e *Engine) Addrs() []net.Addr { return e.addrs }

// Err is nil while every listener accepts (see netloop.Engine).
func (e *Engine) Err() error { return e.srv.Err() }

// Stop stops accepting, then stops the loops: every connection is closed
// and OnClose delivered.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopMu.Lock()
	if e.stopped == nil {
		e.stopped = make(chan struct{})
		e.stopping.Store(true)
		for _, ln := range e.lns {
			_ = ln.Close()
		}
		go func() {
			e.accepts.Wait()
			if err := e.cli.Stop(); err != nil {
				e.stopErr = fmt.Errorf("gnet: stop: %w", err)
			}
			close(e.stopped)
		}()
	}
	stopped := e.stopped
	e.stopMu.Unlock()
	select {
	case <-stopped:
		return e.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

type handler struct {
	gnet.BuiltinEventEngine
	e *Engine
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	kind, _ := gc.Context().(netloop.Kind) // set by EnrollContext
	c := netloop.NewConn(h.e.srv, kind, &transport{c: gc})
	gc.SetContext(c)
	c.Open()
	c.Flush()
	return nil, gnet.None
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*netloop.Conn)
	if !ok {
		return gnet.Close
	}
	if n := gc.InboundBuffered(); n > 0 {
		buf, err := gc.Peek(n)
		if err != nil {
			return gnet.Close
		}
		used := c.Feed(buf)
		if used > 0 {
			_, _ = gc.Discard(used)
		}
	}
	c.Flush()
	return gnet.None
}

func (h *handler) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, ok := gc.Context().(*netloop.Conn); ok {
		c.Closed(err)
	}
	return gnet.None
}

// transport adapts a gnet.Conn to netloop.Transport.
type transport struct {
	c gnet.Conn
}

func (t *transport) Write(b []byte) error {
	_, err := t.c.Write(b)
	return err
}

func (t *transport) Buffered() int        { return t.c.OutboundBuffered() }
func (t *transport) Unsent() int          { return netloop.SocketUnsent(t.c.Fd()) }
func (t *transport) Wake()                { _ = t.c.Wake(nil) }
func (t *transport) Close()               { _ = t.c.Close() }
func (t *transport) RemoteAddr() net.Addr { return t.c.RemoteAddr() }
