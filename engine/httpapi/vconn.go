package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// errTransportClosed is returned by vconn.next once the server closed the
// virtual connection and every message it wrote was read.
var errTransportClosed = errors.New("httpapi: connection closed by the server")

// transport is the netloop.Transport of a virtual connection: Write keeps
// what the server sends for the request goroutine to read, Wake signals
// that goroutine.
type transport struct {
	wake   chan struct{}
	closed atomic.Bool
	out    []byte // request goroutine only (Write runs inside Flush)
	remote net.Addr
}

func (t *transport) Write(b []byte) error { t.out = append(t.out, b...); return nil }
func (t *transport) Buffered() int        { return 0 }
func (t *transport) RemoteAddr() net.Addr { return t.remote }

func (t *transport) Wake() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *transport) Close() {
	t.closed.Store(true)
	t.Wake()
}

// vconn is one HTTP request's connection to the session layer. The request
// goroutine plays the event loop: it alone calls Feed, Flush and Closed.
type vconn struct {
	c    *netloop.Conn
	t    *transport
	off  int // read position in t.out
	in   []byte
	view msg.View
	max  int
}

// newVconn opens a virtual connection for r. Close it with close.
func newVconn(srv *netloop.Server, r *http.Request) *vconn {
	t := &transport{wake: make(chan struct{}, 1), remote: remoteAddr(r)}
	v := &vconn{c: netloop.NewConn(srv, netloop.HTTP, t), t: t, max: srv.Options.MaxFrame}
	v.c.SetHeader(r.Header)
	v.c.Open()
	v.c.Flush()
	return v
}

// remoteAddr parses the request's peer address ("ip:port").
func remoteAddr(r *http.Request) net.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return &net.TCPAddr{}
}

// send feeds one message to the session as if it came off the wire and
// flushes the replies it produced at once.
func (v *vconn) send(m *msg.Msg) {
	v.in = frame.Append(v.in[:0], msg.Append(nil, m))
	v.c.Feed(v.in)
	v.c.Flush()
}

// next returns the next message the server sent (valid until the next
// call), waiting for one until ctx ends. Pings are skipped.
func (v *vconn) next(ctx context.Context) (*msg.View, error) {
	for {
		if v.off == len(v.t.out) {
			v.t.out, v.off = v.t.out[:0], 0 // the previous view is done with
		}
		if v.off < len(v.t.out) {
			p, n, err := frame.Next(v.t.out[v.off:], 1<<31-1)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				v.off += n
				if err := v.view.Reset(p); err != nil {
					return nil, err
				}
				if v.view.Topic() == fb.TopicConnection && v.view.Action() == fb.ActionPing {
					continue
				}
				return &v.view, nil
			}
		}
		if v.t.closed.Load() {
			return nil, errTransportClosed
		}
		select {
		case <-v.t.wake:
			v.c.Flush()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// close ends the virtual connection: the session forgets it, whatever it
// was waiting for.
func (v *vconn) close() {
	v.c.Closed(nil)
}
