package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
)

const initialReadBuffer = 16 << 10

type tcpConn struct {
	nc  net.Conn
	max int

	// Reader state: buf[r:w] holds bytes read but not yet returned.
	buf  []byte
	r, w int

	closeOnce sync.Once
	closeErr  error
}

func dialTCP(ctx context.Context, hostport string, useTLS bool, o Options) (Transport, error) {
	var (
		nc  net.Conn
		err error
	)
	if useTLS {
		cfg := o.TLS
		if cfg == nil {
			cfg = &tls.Config{}
		}
		d := tls.Dialer{Config: cfg}
		nc, err = d.DialContext(ctx, "tcp", hostport)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", hostport)
	}
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	return NewTCP(nc, o.maxFrame()), nil
}

// NewTCP wraps an established stream connection (plain or TLS) as a
// Transport using codec/frame framing. max limits inbound payloads.
func NewTCP(nc net.Conn, max int) Transport {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &tcpConn{nc: nc, max: max, buf: make([]byte, min(initialReadBuffer, max+frame.HeaderSize))}
}

func (c *tcpConn) ReadMessage() ([]byte, error) {
	for {
		payload, n, err := frame.Next(c.buf[c.r:c.w], c.max)
		if err != nil {
			if bytes.HasPrefix(c.buf[c.r:c.w], []byte("HTTP")) {
				// "HTTP" read as a length is 1.3 GB: an HTTP answer.
				return nil, ErrHTTPAnswer
			}
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		if n > 0 {
			c.r += n
			return payload, nil
		}
		if c.r > 0 { // the caller is done with the previous payload: compact
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		}
		if c.w == len(c.buf) {
			// A header is buffered (the buffer is at least HeaderSize long)
			// and announces a frame that does not fit: grow to hold it.
			need := frame.HeaderSize + int(uint32(c.buf[0])|uint32(c.buf[1])<<8|uint32(c.buf[2])<<16|uint32(c.buf[3])<<24)
			nb := make([]byte, min(max(need, 2*len(c.buf)), c.max+frame.HeaderSize))
			copy(nb, c.buf[:c.w])
			c.buf = nb
		}
		n, err = c.nc.Read(c.buf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
}

func (c *tcpConn) WriteFrames(b []byte) error {
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	return nil
}

func (c *tcpConn) Shutdown(time.Duration) error { return c.Close() }

func (c *tcpConn) Close() error {
	c.closeOnce.Do(func() {
		if err := c.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			c.closeErr = fmt.Errorf("transport: %w", err)
		}
	})
	return c.closeErr
}
