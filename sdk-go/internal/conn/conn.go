package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/transport"
)

var (
	// ErrClosed is the Err of a Conn ended by Close or Abort(nil), and what
	// sends to an ending Conn return.
	ErrClosed = errors.New("conn: connection closed")
	// ErrHeartbeatTimeout ends a Conn whose Ping went unanswered for two
	// heartbeat intervals.
	ErrHeartbeatTimeout = errors.New("conn: no pong in time")
	// ErrTooLarge is returned by sends whose encoded message exceeds MaxFrame.
	ErrTooLarge = errors.New("conn: message too large")
)

// DefaultMaxQueue is the Config.MaxQueue used when it is zero.
const DefaultMaxQueue = 4 << 20

// Config configures Start.
type Config struct {
	// Transport is the connection, already through Handshake.
	Transport transport.Transport
	// MaxFrame limits each outbound message; default transport.DefaultMaxFrame.
	MaxFrame int
	// MaxQueue is the number of queued bytes beyond which SendWait waits
	// for the writer; default DefaultMaxQueue.
	MaxQueue int
	// Heartbeat is the client ping interval; zero or less sends no pings.
	Heartbeat time.Duration
	// OnMessage receives every verified message except Connection
	// Ping/Pong/Close, on the reader goroutine. It must not block for long:
	// while it runs, nothing else is read.
	OnMessage func(c *Conn, v *msg.View)
	// Logger receives debug records; nil means none.
	Logger *slog.Logger
}

// Conn is one live connection. See the package documentation.
type Conn struct {
	cfg Config
	t   transport.Transport

	mu struct {
		sync.Mutex
		pending []byte // whole frames not yet taken by the writer
		closing bool   // no more sends: a Close is queued or the Conn ended
		space   sync.Cond
	}
	spare   []byte // writer-owned: the buffer to swap in next
	wake    chan struct{}
	flushed chan struct{} // closed by the writer once a queued Close is written

	lastPong atomic.Uint64

	syncs struct {
		sync.Mutex
		seq     uint64
		waiters map[uint64]chan struct{} // Sync's Ping id → closed at its Pong
	}

	endOnce sync.Once
	done    chan struct{}
	err     error // set before done closes
	wg      sync.WaitGroup
}

// Start launches the goroutines of a connection that passed Handshake.
func Start(cfg Config) *Conn {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = transport.DefaultMaxFrame
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Conn{
		cfg:     cfg,
		t:       cfg.Transport,
		wake:    make(chan struct{}, 1),
		flushed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	c.mu.space.L = &c.mu.Mutex
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	if cfg.Heartbeat > 0 {
		c.wg.Add(1)
		go c.pingLoop(cfg.Heartbeat)
	}
	return c
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err reports why the connection ended (nil while it is open): ErrClosed
// after Close or Abort(nil), a *RemoteError for a server Close,
// ErrHeartbeatTimeout, or the transport's error.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Wait blocks until every goroutine of the Conn has exited.
func (c *Conn) Wait() { c.wg.Wait() }

// Send queues m without waiting for queue space (for control messages:
// subscriptions, pongs, acks). It fails only when the Conn is ending or m is
// too large.
func (c *Conn) Send(m *msg.Msg) error {
	c.mu.Lock()
	err := c.appendLocked(m)
	c.mu.Unlock()
	if err == nil {
		c.signal()
	}
	return err
}

// SendWait queues m, first waiting while more than MaxQueue bytes are queued
// (flow control for publishing). It returns ErrClosed if the Conn ends first.
func (c *Conn) SendWait(m *msg.Msg) error {
	c.mu.Lock()
	for len(c.mu.pending) > c.cfg.MaxQueue && !c.mu.closing {
		c.mu.space.Wait()
	}
	err := c.appendLocked(m)
	c.mu.Unlock()
	if err == nil {
		c.signal()
	}
	return err
}

func (c *Conn) appendLocked(m *msg.Msg) error {
	if c.mu.closing {
		return ErrClosed
	}
	start := len(c.mu.pending)
	b := msg.Append(frame.AppendHeader(c.mu.pending, 0), m)
	n := len(b) - start - frame.HeaderSize
	if n > c.cfg.MaxFrame {
		c.mu.pending = b[:start]
		return fmt.Errorf("%w: %s/%s message of %d bytes exceeds the %d byte frame limit",
			ErrTooLarge, m.Topic, m.Action, n, c.cfg.MaxFrame)
	}
	putLen(b[start:], n)
	c.mu.pending = b
	return nil
}

func putLen(b []byte, n int) { binary.LittleEndian.PutUint32(b, uint32(n)) }

func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close ends the connection politely: it queues Connection/Close with code
// and reason, waits up to timeout for the queue to be written, shuts the
// transport down (WebSocket close handshake, bounded by timeout too) and
// waits for the goroutines. Close after the end is a no-op.
func (c *Conn) Close(code protocol.Code, reason string, timeout time.Duration) {
	c.mu.Lock()
	err := c.appendLocked(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: uint16(code), Reason: reason})
	c.mu.closing = true
	c.mu.Unlock()
	c.mu.space.Broadcast()
	if err == nil {
		c.signal()
		t := time.NewTimer(timeout)
		select {
		case <-c.flushed:
		case <-c.done:
		case <-t.C:
		}
		t.Stop()
	}
	c.end(ErrClosed, func() { _ = c.t.Shutdown(timeout) })
	c.wg.Wait()
}

// Abort ends the connection at once without a Close message; err (nil:
// ErrClosed) becomes Err unless the Conn had already ended. It does not
// wait for the goroutines.
func (c *Conn) Abort(err error) {
	if err == nil {
		err = ErrClosed
	}
	c.end(err, nil)
}

// end records why the Conn ended, stops all sending and closes the
// transport (with shutdown, or at once when shutdown is nil).
func (c *Conn) end(err error, shutdown func()) {
	c.endOnce.Do(func() {
		c.err = err
		c.mu.Lock()
		c.mu.closing = true
		c.mu.Unlock()
		c.mu.space.Broadcast()
		close(c.done)
		if shutdown != nil {
			shutdown()
		} else {
			_ = c.t.Close()
		}
		c.cfg.Logger.Debug("eddy: connection ended", "err", err)
	})
}

func (c *Conn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.mu.Lock()
		buf := c.mu.pending
		c.mu.pending = c.spare[:0]
		closing := c.mu.closing
		c.mu.Unlock()
		c.mu.space.Broadcast()
		if len(buf) > 0 {
			if err := c.t.WriteFrames(buf); err != nil {
				c.end(err, nil)
				return
			}
		}
		if cap(buf) <= 4*c.cfg.MaxQueue { // let one huge burst's buffer go
			c.spare = buf[:0]
		} else {
			c.spare = nil
		}
		if closing { // Close queued its message before setting closing: all written
			close(c.flushed)
			return
		}
	}
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	var v msg.View
	for {
		p, err := c.t.ReadMessage()
		if err != nil {
			c.end(err, nil)
			return
		}
		if err := v.Reset(p); err != nil {
			c.cfg.Logger.Debug("eddy: unverifiable message from server", "err", err)
			c.end(fmt.Errorf("%w: %w", ErrProtocol, err), nil)
			return
		}
		if v.Topic() == fb.TopicConnection {
			switch v.Action() {
			case fb.ActionPing:
				_ = c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()})
				continue
			case fb.ActionPong:
				if v.Id()&syncBit != 0 {
					c.synced(v.Id())
					continue
				}
				for id := v.Id(); ; {
					last := c.lastPong.Load()
					if id <= last || c.lastPong.CompareAndSwap(last, id) {
						break
					}
				}
				continue
			case fb.ActionClose:
				c.end(closeError(&v), nil)
				return
			}
		}
		c.cfg.OnMessage(c, &v)
	}
}

// syncBit marks the ids of Sync's Pings, apart from the heartbeat's.
const syncBit = 1 << 63

// Sync sends a Ping and waits for its Pong. The server handles a
// connection's messages in order, so once Sync returns nil it has processed
// everything sent before. It returns the Conn's error if the Conn ends
// first, ctx's error if ctx ends first.
func (c *Conn) Sync(ctx context.Context) error {
	ch := make(chan struct{})
	c.syncs.Lock()
	c.syncs.seq++
	id := syncBit | c.syncs.seq
	if c.syncs.waiters == nil {
		c.syncs.waiters = make(map[uint64]chan struct{})
	}
	c.syncs.waiters[id] = ch
	c.syncs.Unlock()
	defer func() {
		c.syncs.Lock()
		delete(c.syncs.waiters, id)
		c.syncs.Unlock()
	}()
	if err := c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: id}); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// synced wakes the Sync waiting for the Pong id (reader goroutine).
func (c *Conn) synced(id uint64) {
	c.syncs.Lock()
	if ch := c.syncs.waiters[id]; ch != nil {
		close(ch)
		delete(c.syncs.waiters, id)
	}
	c.syncs.Unlock()
}

// pingLoop sends a Ping every interval while none is outstanding and ends
// the Conn when one stays unanswered for two intervals.
func (c *Conn) pingLoop(interval time.Duration) {
	defer c.wg.Done()
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	var (
		id          uint64
		outstanding bool
		sentAt      = time.Now() // the first Ping goes out one interval after Start
	)
	for {
		select {
		case <-tick.C:
		case <-c.done:
			return
		}
		now := time.Now()
		if outstanding {
			if c.lastPong.Load() >= id {
				outstanding = false
			} else if now.Sub(sentAt) >= 2*interval {
				c.end(ErrHeartbeatTimeout, nil)
				return
			} else {
				continue
			}
		}
		if now.Sub(sentAt) < interval {
			continue
		}
		id++
		if c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: id}) != nil {
			return
		}
		outstanding, sentAt = true, now
	}
}
