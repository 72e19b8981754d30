package netloop

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/codec/bufpool"
	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// ErrClosed is returned by Send and Post once the connection is closing.
var ErrClosed = errors.New("netloop: connection closed")

// ErrSlowConsumer is returned by Send when the outbound queue is full.
var ErrSlowConsumer = errors.New("netloop: outbound queue full")

// keepSpare is the largest outbound buffer a connection keeps for reuse
// after a flush; bigger ones (after a burst) go back to codec/bufpool, where
// any connection's next burst picks them up instead of regrowing a slice.
const keepSpare = 256 << 10

// Conn is one client connection. See the package documentation for which
// methods may be called from which goroutine.
type Conn struct {
	t    Transport
	srv  *Server
	kind Kind

	// closing is set once Close was requested; read without the lock on the
	// hot path to stop feeding messages of a closing connection.
	closing atomic.Bool
	// backlog is the back-end's unwritten byte count at the last flush.
	backlog atomic.Int64
	// behind is backlog counted as the messages it holds were before
	// compression (see Flush): what a deflate peer is behind by.
	behind atomic.Int64
	// closeCode is the code of the first CloseWith (0: none).
	closeCode atomic.Uint32

	// Loop-owned state.
	ctx       any
	upgraded  bool // written under mu (CloseWith reads it from other goroutines)
	deflate   bool
	header    http.Header
	parser    ws.Parser
	opened    bool
	gone      bool
	ratio     float64       // bytes before compression per byte written, last flush
	pongFrame [2 + 125]byte // Flush frames the pending pong here
	admitted  bool          // counted against Options.MaxSockets
	upgrade   *time.Timer   // a WebSocket's upgrade deadline

	mu struct {
		sync.Mutex
		buf   []byte
		spare []byte
		// raw counts buf's bytes with compressed payloads at their size
		// before compression (or after, when larger): MaxQueue bounds
		// what a peer is behind by, not only the compressed bytes held.
		// Without compression raw is len(buf).
		raw       int
		tasks     []func()
		sent      int  // messages queued by Send since the last flush (for Stats)
		scheduled bool // a flush is coming: no need to wake the loop
		shutdown  bool // close the transport after the next flush
		closed    bool
		// pong is the payload of the last ping not answered yet: pings
		// that arrive before the next flush are answered with one pong
		// (RFC 6455 5.5.3), which counts against MaxQueue.
		pong    []byte
		pongDue bool
		pongAt  int // len(buf) when the first unanswered ping was read
	}
}

// NewConn is called by a back-end for every accepted socket.
func NewConn(srv *Server, kind Kind, t Transport) *Conn {
	c := &Conn{t: t, srv: srv, kind: kind}
	if kind != HTTP { // an HTTP request's socket is counted by Server.Listen
		c.admitted = srv.admit()
	}
	return c
}

// Kind reports the connection's framing.
func (c *Conn) Kind() Kind { return c.kind }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.t.RemoteAddr() }

// Header returns the WebSocket upgrade request's header, or the HTTP
// request's header for an HTTP connection (nil for TCP). It is set before
// Handler.OnOpen and never changes afterwards.
func (c *Conn) Header() http.Header { return c.header }

// SetHeader gives an HTTP connection its request's header. Call it before
// Open, on the goroutine that owns the connection.
func (c *Conn) SetHeader(h http.Header) { c.header = h }

// Context returns what SetContext stored. Loop goroutine only.
func (c *Conn) Context() any { return c.ctx }

// SetContext stores the handler's per-connection state. Loop goroutine only.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Send queues one message payload for c, framed for its transport. It is
// safe from any goroutine and copies payload before returning.
func (c *Conn) Send(payload []byte) error {
	if c.kind == WebSocket && c.deflate && c.srv.Options.CompressMin >= 0 && len(payload) >= c.srv.Options.CompressMin {
		return c.sendCompressed(payload)
	}
	c.mu.Lock()
	if c.mu.closed || c.closing.Load() {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.mu.raw+len(payload)+14+int(c.behind.Load()) > c.srv.Options.MaxQueue {
		return c.overflowLocked()
	}
	before := len(c.mu.buf)
	c.mu.buf = bufpool.Grow(c.mu.buf, len(payload)+14)
	if c.kind != WebSocket {
		c.mu.buf = frame.AppendHeader(c.mu.buf, len(payload))
	} else {
		c.mu.buf = ws.AppendHeader(c.mu.buf, ws.OpBinary, len(payload), true, false, nil)
	}
	c.mu.buf = append(c.mu.buf, payload...)
	c.mu.raw += len(c.mu.buf) - before
	c.mu.sent++
	c.scheduleLocked()
	return nil
}

var deflateBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *Conn) sendCompressed(payload []byte) error {
	bp := deflateBufs.Get().(*[]byte)
	z := ws.Compress((*bp)[:0], payload)
	defer func() { *bp = z[:0]; deflateBufs.Put(bp) }()
	c.mu.Lock()
	if c.mu.closed || c.closing.Load() {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.mu.raw+max(len(z), len(payload))+14+int(c.behind.Load()) > c.srv.Options.MaxQueue {
		return c.overflowLocked()
	}
	before := len(c.mu.buf)
	c.mu.buf = bufpool.Grow(c.mu.buf, len(z)+14)
	c.mu.buf = ws.AppendHeader(c.mu.buf, ws.OpBinary, len(z), true, true, nil)
	header := len(c.mu.buf) - before
	c.mu.buf = append(c.mu.buf, z...)
	c.mu.raw += header + max(len(z), len(payload))
	c.mu.sent++
	c.scheduleLocked()
	return nil
}

// scheduleLocked releases the lock and wakes the loop unless a flush is
// already due.
func (c *Conn) scheduleLocked() {
	wake := !c.mu.scheduled
	c.mu.scheduled = true
	c.mu.Unlock()
	if wake {
		c.srv.wakeSoon(c)
	}
}

// overflowLocked applies the slow-consumer policy; it releases the lock.
func (c *Conn) overflowLocked() error {
	if c.srv.Options.SlowPolicy == Drop {
		c.mu.Unlock()
		if c.srv.Stats != nil {
			c.srv.Stats.SlowConsumer(true)
		}
		return ErrSlowConsumer
	}
	// Release the queue: a slow consumer will not read it anyway, and the
	// close reason should be the next thing it sees.
	c.mu.buf = c.mu.buf[:0]
	c.mu.raw = 0
	c.mu.Unlock()
	if c.srv.Stats != nil {
		c.srv.Stats.SlowConsumer(false)
	}
	c.CloseWith(protocol.CodeSlowConsumer, "outbound queue exceeded its limit")
	return ErrSlowConsumer
}

// Post runs fn on the connection's loop goroutine, before the next flush.
// Safe from any goroutine; fn is dropped if the connection is gone.
func (c *Conn) Post(fn func()) error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.mu.tasks = append(c.mu.tasks, fn)
	c.scheduleLocked()
	return nil
}

// CloseWith sends an Eddy Close message with code and reason (and, on
// WebSocket, a close frame), then closes the connection once the queue is
// written. Safe from any goroutine; later calls do nothing.
func (c *Conn) CloseWith(code protocol.Code, reason string) {
	if c.closing.Swap(true) {
		return
	}
	c.closeCode.Store(uint32(code))
	m := msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: uint16(code), Reason: reason}
	payload := msg.Append(nil, &m)
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.shutdown = true
	if c.kind == WebSocket && !c.upgraded {
		// Nothing framed may go out before the upgrade response.
		c.scheduleLocked()
		return
	}
	if c.kind != WebSocket {
		c.mu.buf = frame.Append(c.mu.buf, payload)
	} else {
		c.mu.buf = ws.AppendFrame(c.mu.buf, ws.OpBinary, payload, false, nil)
		c.mu.buf = ws.AppendClose(c.mu.buf, wsCloseCode(code), truncateReason(reason), nil)
	}
	c.scheduleLocked()
}

// CloseCode is the catalogue code the server closed c with (CloseWith,
// including a slow-consumer cut-off), or 0 when it did not close it that
// way. Safe from any goroutine; final once Handler.OnClose runs.
func (c *Conn) CloseCode() protocol.Code { return protocol.Code(c.closeCode.Load()) }

// wsCloseCode maps a catalogue code to a WebSocket close code.
func wsCloseCode(code protocol.Code) uint16 {
	switch code {
	case protocol.CodeNormalClose, protocol.CodeServerShutdown:
		if code == protocol.CodeServerShutdown {
			return 1001
		}
		return 1000
	case protocol.CodeProtocolError:
		return 1002
	case protocol.CodeMessageTooLarge:
		return 1009
	case protocol.CodeInternalError:
		return 1011
	}
	return 4000 + uint16(code)
}

// truncateReason keeps a close reason within the 123 bytes a close frame allows.
func truncateReason(s string) string {
	if len(s) <= 123 {
		return s
	}
	s = s[:123]
	for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 { // do not split a UTF-8 sequence
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xc0 {
		s = s[:len(s)-1]
	}
	return s
}
