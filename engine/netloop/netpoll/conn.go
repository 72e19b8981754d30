package netpoll

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytedance/gopkg/util/gopool"
	"github.com/cloudwego/netpoll"

	"github.com/eddy-realtime/eddy/engine/netloop"
)

// errClosed is returned by Write once the connection failed or closed.
var errClosed = errors.New("netpoll: connection closed")

// conn is one netpoll connection and its netloop.Transport.
type conn struct {
	e  *Engine
	nc netpoll.Connection
	c  *netloop.Conn

	// mu serializes Feed, Flush and Closed (netloop's loop-owned state).
	// It is never held while netpoll writes or while a socket closes.
	mu   sync.Mutex
	gone bool // Closed was called; under mu

	wakePending atomic.Bool
	flushTask   func() // c.wakeFlush, bound once

	w struct {
		sync.Mutex
		mallocd  int    // bytes in netpoll's output buffer, not yet submitted
		out      []byte // bytes flushed while a submit was in progress
		inflight int    // bytes of the submit in progress
		writing  bool   // a goroutine is in drain
		closeReq bool   // close once everything is written
		failed   bool   // the connection is closed or broken: drop writes
	}
}

var _ netloop.Transport = (*conn)(nil)

func newConn(e *Engine, nc netpoll.Connection, kind netloop.Kind) *conn {
	c := &conn{e: e, nc: nc}
	c.flushTask = c.wakeFlush
	c.c = netloop.NewConn(e.srv, kind, c)
	return c
}

// onClose is netpoll's close callback: it runs once, with no OnRequest of
// this connection running, before netpoll frees the connection's buffers.
func (c *conn) onClose(netpoll.Connection) error {
	c.w.Lock()
	c.w.failed = true
	c.w.out = nil
	c.w.Unlock()
	defer c.e.live.Done()
	c.e.forget(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.gone = true
		c.c.Closed(nil)
	}
	return nil
}

// The netloop calls below hold mu with a deferred unlock: netpoll's
// goroutine pool recovers a handler's panic and then closes the connection,
// whose onClose needs mu.

func (c *conn) open() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.c.Open()
		c.c.Flush()
	}
}

// feed hands buf to Feed, flushes, and returns how much Feed consumed.
func (c *conn) feed(buf []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return len(buf)
	}
	used := c.c.Feed(buf)
	c.c.Flush()
	return used
}

func (c *conn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.c.Flush()
	}
}

// wakeFlush is the task Wake schedules.
func (c *conn) wakeFlush() {
	c.wakePending.Store(false) // wakes from here on schedule another task
	c.flush()
	c.drain()
}

// drain submits what Write put in netpoll's output buffer, and whatever is
// queued while each submit blocks, until nothing is left. Called without
// mu by every goroutine that flushed; one drains at a time.
func (c *conn) drain() {
	c.w.Lock()
	if c.w.writing {
		c.w.Unlock()
		return
	}
	c.w.writing = true
	for {
		if !c.w.failed && len(c.w.out) > 0 {
			buf, err := c.nc.Writer().Malloc(len(c.w.out))
			if err != nil {
				c.w.failed = true
			} else {
				copy(buf, c.w.out)
				c.w.mallocd += len(c.w.out)
				c.w.out = c.w.out[:0]
			}
		}
		if c.w.failed || c.w.mallocd == 0 {
			c.w.writing = false
			closeNow := c.w.failed || c.w.closeReq
			c.w.Unlock()
			if closeNow {
				c.closeSocket()
			}
			return
		}
		c.w.inflight, c.w.mallocd = c.w.mallocd, 0
		c.w.Unlock()
		err := c.nc.Writer().Flush()
		c.w.Lock()
		c.w.inflight = 0
		if err != nil {
			c.w.failed = true
			c.w.out = nil
		}
	}
}

// closeSocket closes the connection; netpoll then runs onClose. Never
// called with mu held: onClose may run on the calling goroutine.
func (c *conn) closeSocket() { _ = c.nc.Close() }

// Write copies b into netpoll's output buffer, or queues it behind a
// submit in progress (called by netloop.Conn.Flush under mu).
func (c *conn) Write(b []byte) error {
	c.w.Lock()
	defer c.w.Unlock()
	if c.w.failed {
		return errClosed
	}
	if c.w.writing {
		c.w.out = append(c.w.out, b...)
		return nil
	}
	buf, err := c.nc.Writer().Malloc(len(b))
	if err != nil {
		c.w.failed = true
		return err
	}
	copy(buf, b)
	c.w.mallocd += len(b)
	return nil
}

// Buffered reports the bytes waiting behind the submit in progress (none
// when no submit is blocked). The submit itself is not counted: netpoll does
// not tell how much of it the kernel took, and it holds at most the bytes
// of the flushes before it, which netloop already bounded by MaxQueue.
func (c *conn) Buffered() int {
	c.w.Lock()
	n := 0
	if c.w.writing {
		n = c.w.mallocd + len(c.w.out)
	}
	c.w.Unlock()
	return n
}

// Unsent adds to Buffered the submit in progress and what the kernel holds
// for the peer (netloop.Unsent), for a peer behind on compressed messages.
func (c *conn) Unsent() int {
	c.w.Lock()
	n := c.w.inflight
	c.w.Unlock()
	if fc, ok := c.nc.(netpoll.Conn); ok {
		n += netloop.SocketUnsent(fc.Fd())
	}
	return n
}

// Wake schedules one Flush on netpoll's goroutine pool; safe from any
// goroutine, and wakes before that Flush starts coalesce into it.
func (c *conn) Wake() {
	if c.wakePending.Swap(true) {
		return
	}
	gopool.Go(c.flushTask)
}

// Close closes the connection once queued bytes are written, or after
// Options.CloseGrace if the peer does not take them. Safe from any goroutine.
func (c *conn) Close() {
	c.w.Lock()
	if c.w.closeReq || c.w.failed {
		c.w.Unlock()
		return
	}
	c.w.closeReq = true
	busy := c.w.mallocd+len(c.w.out)+c.w.inflight > 0
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
