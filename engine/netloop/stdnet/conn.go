package stdnet

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eddy-realtime/eddy/engine/netloop"
)

// errClosed is returned by Write once the socket failed or closed.
var errClosed = errors.New("stdnet: connection closed")

// keepSpare is the largest write buffer the writer keeps for reuse.
const keepSpare = 256 << 10

// conn is one accepted socket and its netloop.Transport.
type conn struct {
	e   *Engine
	nc  net.Conn
	c   *netloop.Conn
	raw syscall.RawConn // nc's descriptor; nil over TLS

	// mu serializes Feed, Flush and Closed (netloop's loop-owned state).
	// It is never held during socket I/O.
	mu   sync.Mutex
	gone bool // Closed was called; under mu

	wake chan struct{} // capacity 1: a Flush is wanted
	done chan struct{} // closed by the reader after Closed

	closedByUs atomic.Bool // the socket was closed on purpose: Closed gets nil

	w struct {
		sync.Mutex
		out      []byte // flushed, not yet written
		spare    []byte // the last written buffer, for reuse
		writing  bool   // a goroutine is in drain
		closeReq bool   // close once out is written
		inflight int    // bytes of the Write in progress
		failed   bool   // the socket is closed or broken: drop writes
	}
}

var _ netloop.Transport = (*conn)(nil)

func newConn(e *Engine, nc net.Conn, kind netloop.Kind) *conn {
	c := &conn{
		e:    e,
		nc:   nc,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.c = netloop.NewConn(e.srv, kind, c)
	return c
}

// readLoop owns the connection's life: TLS handshake, Open, reads, Closed.
func (c *conn) readLoop() {
	defer c.e.wg.Done()
	defer c.e.forget(c)
	rerr := c.handshake()
	if rerr == nil {
		c.mu.Lock()
		c.c.Open()
		c.c.Flush()
		c.mu.Unlock()
		c.drain()
		rerr = c.read()
	}
	c.w.Lock()
	c.w.failed = true
	c.w.out = nil
	c.w.Unlock()
	_ = c.nc.Close()
	if c.closedByUs.Load() || errors.Is(rerr, io.EOF) || errors.Is(rerr, net.ErrClosed) {
		rerr = nil
	}
	c.mu.Lock()
	c.gone = true
	c.c.Closed(rerr)
	c.mu.Unlock()
	close(c.done)
}

// handshake completes a TLS handshake within Options.HandshakeTimeout, so
// a peer that never finishes it holds no session.
func (c *conn) handshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.e.opts.HandshakeTimeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

// read feeds inbound bytes until the socket fails or closes.
func (c *conn) read() error {
	size := c.e.opts.ReadBuffer
	buf := make([]byte, size)
	n := 0
	for {
		if n == len(buf) {
			nb := make([]byte, 2*len(buf))
			copy(nb, buf[:n])
			buf = nb
		}
		m, err := c.nc.Read(buf[n:])
		full := n+m == len(buf)
		if m > 0 {
			n += m
			c.mu.Lock()
			used := c.c.Feed(buf[:n])
			c.c.Flush()
			c.mu.Unlock()
			c.drain()
			n = copy(buf, buf[used:n])
			if len(buf) > size && n <= size {
				// A big frame is done: give its buffer back.
				nb := make([]byte, size)
				copy(nb, buf[:n])
				buf = nb
			}
		}
		if err != nil {
			return err
		}
		if full {
			// More is likely waiting: let the goroutines this batch woke
			// (subscribers' wake loops) flush before reading on, as an
			// event loop would, or a busy publisher starves them.
			runtime.Gosched()
		}
	}
}

// wakeLoop answers Wake: one Flush per wake-up, however many wakes came.
// Each connection runs two, so one is free while the other drains to a
// peer that does not read.
func (c *conn) wakeLoop() {
	defer c.e.wg.Done()
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.mu.Lock()
		if !c.gone {
			c.c.Flush()
		}
		c.mu.Unlock()
		c.drain()
	}
}

// drain writes what Flush queued, and whatever is queued while each write
// blocks, until nothing is left; then it closes the socket if Close asked.
// Called without mu by every goroutine that flushed; one drains at a time.
func (c *conn) drain() {
	c.w.Lock()
	if c.w.writing {
		c.w.Unlock()
		return
	}
	c.w.writing = true
	for !c.w.failed && len(c.w.out) > 0 {
		buf := c.w.out
		c.w.out, c.w.spare = c.w.spare[:0], nil
		c.w.inflight = len(buf)
		c.w.Unlock()
		_, err := c.nc.Write(buf)
		c.w.Lock()
		c.w.inflight = 0
		if err != nil {
			c.w.failed = true
			c.w.out = nil
			break
		}
		if cap(buf) <= keepSpare {
			c.w.spare = buf[:0]
		}
	}
	c.w.writing = false
	closeNow := c.w.closeReq || c.w.failed
	c.w.Unlock()
	if closeNow {
		c.closeSocket()
	}
}

// closeSocket closes the socket; the reader then calls Closed.
func (c *conn) closeSocket() {
	c.closedByUs.Store(true)
	_ = c.nc.Close()
}

// Write queues b; the goroutine that flushed writes it in drain (called by
// netloop.Conn.Flush under mu).
func (c *conn) Write(b []byte) error {
	c.w.Lock()
	defer c.w.Unlock()
	if c.w.failed {
		return errClosed
	}
	c.w.out = append(c.w.out, b...)
	return nil
}

// Buffered reports the bytes queued behind the write in progress. The
// write itself is not counted (part of it may already be in the kernel): it
// holds at most what earlier flushes queued, which netloop bounded by
// MaxQueue.
func (c *conn) Buffered() int {
	c.w.Lock()
	n := len(c.w.out)
	c.w.Unlock()
	return n
}

// Unsent adds to Buffered the write in progress and what the kernel holds
// for the peer (netloop.Unsent), for a peer behind on compressed messages.
// Over TLS only the write in progress is known.
func (c *conn) Unsent() int {
	c.w.Lock()
	n := c.w.inflight
	c.w.Unlock()
	if c.raw != nil {
		_ = c.raw.Control(func(fd uintptr) { n += netloop.SocketUnsent(int(fd)) })
	}
	return n
}

// Wake asks a wake loop for a Flush; safe from any goroutine, coalesces.
func (c *conn) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close closes the socket once the queued bytes are written, or after
// Options.CloseGrace if the peer does not take them. Safe from any goroutine.
func (c *conn) Close() {
	c.w.Lock()
	if c.w.closeReq || c.w.failed {
		c.w.Unlock()
		return
	}
	c.w.closeReq = true
	busy := c.w.writing || len(c.w.out) > 0
	c.w.Unlock()
	if busy {
		time.AfterFunc(c.e.opts.CloseGrace, c.closeSocket)
	}
	// The goroutine that flushed drains next and closes; a wake covers a
	// Close that came from anywhere else.
	c.Wake()
}

// RemoteAddr is the peer's address.
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }
