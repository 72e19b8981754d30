package netloop

import (
	"errors"
	"time"

	"github.com/eddy-realtime/eddy/codec/bufpool"
	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/protocol"
)

// Open is called by the back-end on the loop right after NewConn. For TCP
// and HTTP it opens the session at once; a WebSocket waits for its upgrade,
// at most Options.UpgradeTimeout. A socket past Options.MaxSockets is
// refused here: the back-end's Flush writes the refusal and closes it.
func (c *Conn) Open() {
	if c.kind == HTTP {
		c.open()
		return
	}
	if !c.admitted {
		if c.kind == TCP {
			c.CloseWith(protocol.CodeTooManyConnections, "the server has reached its connection limit")
		} else {
			c.refuseHTTP(503, "the server has reached its connection limit")
		}
		return
	}
	if c.kind == TCP {
		c.open()
		return
	}
	c.upgrade = time.AfterFunc(c.srv.Options.UpgradeTimeout, func() {
		_ = c.Post(func() {
			if !c.upgraded && !c.closing.Load() {
				if c.srv.Stats != nil {
					c.srv.Stats.UpgradeTimeout()
				}
				c.refuseHTTP(408, "no WebSocket upgrade request within the handshake timeout")
			}
		})
	})
}

// refuseHTTP answers a WebSocket socket that has not upgraded with an HTTP
// error and closes it after the next flush. Loop goroutine only.
func (c *Conn) refuseHTTP(status int, reason string) {
	c.closing.Store(true)
	c.mu.Lock()
	c.mu.buf = ws.AppendHTTPError(c.mu.buf[:0], status, reason)
	c.mu.shutdown = true
	c.mu.Unlock()
}

func (c *Conn) open() {
	c.opened = true
	if err := c.srv.Handler.OnOpen(c); err != nil {
		var ce *CloseError
		if errors.As(err, &ce) {
			c.CloseWith(ce.Code, ce.Reason)
		} else {
			c.CloseWith(protocol.CodeInternalError, err.Error())
		}
	}
}

// Feed hands the back-end's buffered inbound bytes to c and returns how many
// were consumed; the back-end keeps the rest for the next call. The back-end
// must call Flush after Feed. Loop goroutine only.
func (c *Conn) Feed(buf []byte) int {
	if c.closing.Load() {
		return len(buf) // a closing connection's input is discarded
	}
	c.mu.Lock()
	c.mu.scheduled = true // the back-end flushes after Feed: sends need no wake
	c.mu.Unlock()
	var n int
	c.srv.beginFeed()
	if c.kind != WebSocket {
		n = c.feedTCP(buf)
	} else {
		n = c.feedWS(buf)
	}
	c.srv.endFeed()
	if c.srv.Stats != nil && n > 0 {
		c.srv.Stats.Received(n)
	}
	return n
}

func (c *Conn) feedTCP(buf []byte) int {
	n := 0
	for {
		p, m, err := frame.Next(buf[n:], c.srv.Options.MaxFrame)
		if err != nil {
			c.CloseWith(protocol.CodeMessageTooLarge, err.Error())
			return len(buf)
		}
		if m == 0 {
			return n
		}
		n += m
		c.srv.Handler.OnMessage(c, p)
		if c.closing.Load() {
			return len(buf)
		}
	}
}

func (c *Conn) feedWS(buf []byte) int {
	n := 0
	if !c.upgraded {
		req, m, err := ws.ParseRequest(buf, c.srv.Options.MaxHeader)
		if err != nil {
			status := ws.HTTPStatus(err)
			c.closing.Store(true)
			c.mu.Lock()
			c.mu.buf = ws.AppendHTTPError(c.mu.buf, status, err.Error())
			c.mu.shutdown = true
			c.mu.Unlock()
			return len(buf)
		}
		if m == 0 {
			return 0
		}
		n = m
		if c.upgrade != nil {
			c.upgrade.Stop()
			c.upgrade = nil // a posted expiry sees upgraded and does nothing
		}
		deflate := req.Deflate && !c.srv.Options.DisableDeflate
		c.mu.Lock()
		c.mu.buf = ws.AppendResponse(c.mu.buf, req, deflate)
		c.upgraded = true
		c.mu.Unlock()
		c.header = req.Header
		c.deflate = deflate
		c.parser = ws.Parser{MaxMessage: c.srv.Options.MaxFrame, Deflate: deflate}
		c.open()
	}
	for !c.closing.Load() {
		f, m, err := c.parser.Next(buf[n:])
		if err != nil {
			code := uint16(1002)
			var ce *ws.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			c.closeWS(code, err.Error())
			return len(buf)
		}
		if m == 0 {
			return n
		}
		n += m
		switch f.Op {
		case ws.OpBinary:
			c.srv.Handler.OnMessage(c, f.Payload)
		case ws.OpText:
			c.closeWS(1003, "eddy speaks binary messages only")
			return len(buf)
		case ws.OpPing:
			c.mu.Lock()
			if !c.mu.pongDue {
				c.mu.pongAt = len(c.mu.buf) // after what was queued before the ping
			}
			c.mu.pong = append(c.mu.pong[:0], f.Payload...)
			c.mu.pongDue = true
			c.mu.Unlock() // the Flush after Feed sends it
		case ws.OpClose:
			code := f.CloseCode
			if code == 0 {
				code = 1000
			}
			c.closeWS(code, "")
			return len(buf)
		}
	}
	return len(buf)
}

// closeWS answers a WebSocket-level failure or close with a close frame only
// (the peer broke or ended the WebSocket, so no Eddy message follows).
func (c *Conn) closeWS(code uint16, reason string) {
	if c.closing.Swap(true) {
		return
	}
	if code == 1009 {
		reason = "message too big"
	}
	c.mu.Lock()
	c.mu.buf = ws.AppendClose(c.mu.buf, code, truncateReason(reason), nil)
	c.mu.shutdown = true
	c.mu.Unlock()
}

// Flush runs posted tasks and writes everything queued with one Write.
// The back-end calls it after Feed and after every Wake. Loop goroutine only.
func (c *Conn) Flush() {
	for {
		c.mu.Lock()
		tasks := c.mu.tasks
		if len(tasks) == 0 {
			break
		}
		c.mu.tasks = nil
		c.mu.Unlock()
		for _, fn := range tasks {
			fn()
		}
	}
	buf := c.mu.buf
	overflow := false
	var pong []byte // goes out at buf[pongAt], where the first ping it answers was read
	pongAt := 0
	if c.mu.pongDue {
		c.mu.pongDue = false
		if len(buf)+len(c.mu.pong)+2+int(c.backlog.Load()) > c.srv.Options.MaxQueue {
			overflow = true
		} else {
			pong = ws.AppendFrame(c.pongFrame[:0], ws.OpPong, c.mu.pong, false, nil)
			pongAt = min(c.mu.pongAt, len(buf))
		}
	}
	raw := max(c.mu.raw, len(buf))
	c.mu.raw = 0
	c.mu.buf = c.mu.spare[:0]
	c.mu.spare = nil
	c.mu.scheduled = false
	sent := c.mu.sent
	c.mu.sent = 0
	shutdown := c.mu.shutdown
	c.mu.Unlock()

	if len(buf) > 0 || pong != nil {
		var err error
		if pong == nil {
			err = c.t.Write(buf)
		} else {
			for _, part := range [3][]byte{buf[:pongAt], pong, buf[pongAt:]} {
				if len(part) > 0 && err == nil {
					err = c.t.Write(part)
				}
			}
		}
		if err != nil {
			shutdown = true
		}
		if c.srv.Stats != nil {
			c.srv.Stats.Flushed(sent, len(buf)+len(pong))
		}
	}
	backlog := int64(c.t.Buffered())
	c.backlog.Store(backlog)
	// The backlog holds the tail of what was written, at the ratio of the
	// last write that had any (1 when nothing is compressed).
	if len(buf) > 0 {
		c.ratio = float64(raw) / float64(len(buf))
	}
	if c.ratio < 1 {
		c.ratio = 1
	}
	if c.deflate {
		if u, ok := c.t.(Unsent); ok {
			backlog += int64(u.Unsent())
		}
	}
	c.behind.Store(int64(float64(backlog) * c.ratio))
	if cap(buf) <= keepSpare {
		c.mu.Lock()
		if c.mu.spare == nil {
			c.mu.spare = buf[:0]
		}
		c.mu.Unlock()
	} else {
		bufpool.Put(buf)
	}
	if shutdown {
		c.t.Close()
	} else if overflow {
		// A peer that pings and does not read: the pong does not fit.
		if c.srv.Stats != nil {
			c.srv.Stats.SlowConsumer(c.srv.Options.SlowPolicy == Drop)
		}
		if c.srv.Options.SlowPolicy != Drop {
			c.CloseWith(protocol.CodeSlowConsumer, "outbound queue exceeded its limit")
		}
	}
}

// Closed tells c that its socket is gone. Loop goroutine only; called once.
func (c *Conn) Closed(err error) {
	if c.gone {
		return
	}
	c.gone = true
	c.closing.Store(true)
	c.mu.Lock()
	c.mu.closed = true
	c.mu.buf, c.mu.spare, c.mu.tasks = nil, nil, nil
	c.mu.Unlock()
	if c.upgrade != nil {
		c.upgrade.Stop()
	}
	if c.admitted {
		c.admitted = false
		c.srv.release()
	}
	if c.opened {
		c.srv.Handler.OnClose(c, err)
	}
}
