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
package gnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

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
type Engine struct {
	srv    *netloop.Server
	opts   Options
	eng    gnet.Engine
	addrs  []net.Addr
	kinds  map[int]netloop.Kind // local port -> framing
	booted chan error
	done   chan error
	stopMu sync.Mutex
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
	e := &Engine{srv: srv, opts: opts, kinds: map[int]netloop.Kind{}, booted: make(chan error, 1), done: make(chan error, 1)}
	addrs := make([]string, len(srv.Listeners))
	for i := range srv.Listeners {
		l := &srv.Listeners[i]
		// gnet identifies listeners by their address string, so two
		// listeners asking for port 0 would be indistinguishable: pick the
		// free ports here.
		if host, port, err := net.SplitHostPort(l.Addr); err == nil && port == "0" {
			free, err := freePort(host)
			if err != nil {
				return nil, fmt.Errorf("gnet: %w", err)
			}
			l.Addr = free
		}
		addrs[i] = "tcp://" + l.Addr
	}
	gopts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithReusePort(false),
		gnet.WithReuseAddr(true), // as net.Listen does: rebind while old connections sit in TIME_WAIT
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(slogAdapter{l: opts.Logger}),
	}
	if opts.Loops > 0 {
		gopts = append(gopts, gnet.WithNumEventLoop(opts.Loops))
	}
	if opts.ReadBufferCap > 0 {
		gopts = append(gopts, gnet.WithReadBufferCap(opts.ReadBufferCap))
	}
	go func() {
		err := gnet.Rotate(&handler{e: e}, addrs, gopts...)
		select {
		case e.booted <- err: // failed before booting
		default:
		}
		e.done <- err
	}()
	select {
	case err := <-e.booted:
		if err != nil {
			return nil, fmt.Errorf("gnet: %w", err)
		}
	case <-time.After(10 * time.Second):
		return nil, errors.New("gnet: engine did not start within 10s")
	}
	return e, nil
}

func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// boot learns the bound ports (listeners may ask for port 0).
func (e *Engine) boot(eng gnet.Engine) error {
	e.eng = eng
	for _, l := range e.srv.Listeners {
		fd, err := eng.DupListener("tcp", l.Addr)
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Addr, err)
		}
		sa, err := unix.Getsockname(fd)
		_ = unix.Close(fd)
		if err != nil {
			return err
		}
		var addr *net.TCPAddr
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			addr = &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
		case *unix.SockaddrInet6:
			addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
		default:
			return fmt.Errorf("listener %s: unexpected address type", l.Addr)
		}
		e.addrs = append(e.addrs, addr)
		e.kinds[addr.Port] = l.Kind
	}
	return nil
}

// Addrs returns the bound listener addresses in Listeners order.
func (e *Engine) Addrs() []net.Addr { return e.addrs }

// Stop stops the engine: every connection is closed and OnClose delivered.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopMu.Lock()
	defer e.stopMu.Unlock()
	if err := e.eng.Stop(ctx); err != nil && !strings.Contains(err.Error(), "engine has been stopped") {
		return fmt.Errorf("gnet: stop: %w", err)
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

type handler struct {
	gnet.BuiltinEventEngine
	e *Engine
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	err := h.e.boot(eng)
	h.e.booted <- err
	if err != nil {
		return gnet.Shutdown
	}
	return gnet.None
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	kind := netloop.TCP
	if a, ok := gc.LocalAddr().(*net.TCPAddr); ok {
		kind = h.e.kinds[a.Port]
	}
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
func (t *transport) Wake()                { _ = t.c.Wake(nil) }
func (t *transport) Close()               { _ = t.c.Close() }
func (t *transport) RemoteAddr() net.Addr { return t.c.RemoteAddr() }
