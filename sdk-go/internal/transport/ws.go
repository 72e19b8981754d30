package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/eddy-realtime/eddy/codec/frame"
)

type wsConn struct {
	c   *websocket.Conn
	raw net.Conn // the socket under c, closed to force a stuck close handshake
	max int
	buf []byte
}

func dialWS(ctx context.Context, u *url.URL, o Options) (Transport, error) {
	var (
		mu    sync.Mutex
		raw   net.Conn
		sniff *sniffConn
	)
	ht := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				raw = nc
				sniff = &sniffConn{Conn: nc}
				nc = sniff
				mu.Unlock()
			}
			return nc, err
		},
		TLSClientConfig: o.TLS,
	}
	mode := websocket.CompressionDisabled
	if o.Compression {
		mode = websocket.CompressionNoContextTakeover
	}
	c, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: ht},
		CompressionMode: mode,
	})
	ht.CloseIdleConnections()
	if err != nil {
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		// Over plain ws:// the first bytes read are the HTTP answer; a peer
		// that sent something else is no HTTP server (wss:// reads TLS).
		if u.Scheme == "ws" && sniff != nil && sniff.notHTTP() {
			return nil, ErrNotHTTP
		}
		if ctx.Err() != nil && (sniff == nil || !sniff.answered()) {
			return nil, fmt.Errorf("%w: %w", ErrNoUpgrade, ctx.Err())
		}
		return nil, fmt.Errorf("transport: %w", err)
	}
	max := o.maxFrame()
	c.SetReadLimit(int64(max))
	mu.Lock()
	defer mu.Unlock()
	return &wsConn{c: c, raw: raw, max: max, buf: make([]byte, 4<<10)}, nil
}

// sniffConn keeps the first bytes read from a connection.
type sniffConn struct {
	net.Conn
	mu    sync.Mutex
	first []byte
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if len(c.first) < 5 {
			c.first = append(c.first, p[:min(n, 5-len(c.first))]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

// answered reports whether the peer sent anything.
func (c *sniffConn) answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.first) > 0
}

// notHTTP reports whether the peer sent bytes that do not begin an HTTP
// response.
func (c *sniffConn) notHTTP() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.first)
	return n > 0 && string(c.first) != "HTTP/"[:n]
}

// NewWebSocket wraps an established WebSocket connection as a Transport
// (the server side in tests). max limits inbound payloads.
func NewWebSocket(c *websocket.Conn, max int) Transport {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	c.SetReadLimit(int64(max))
	return &wsConn{c: c, max: max, buf: make([]byte, 4<<10)}
}

func (c *wsConn) ReadMessage() ([]byte, error) {
	typ, r, err := c.c.Reader(context.Background())
	if err != nil {
		return nil, wsErr(err)
	}
	n := 0
	for {
		if n == len(c.buf) {
			// The read limit (max) fails the reader before the buffer
			// would need to pass max+1 bytes.
			nb := make([]byte, min(2*len(c.buf), c.max+1))
			copy(nb, c.buf[:n])
			c.buf = nb
		}
		m, err := r.Read(c.buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, wsErr(err)
		}
	}
	if typ != websocket.MessageBinary {
		_ = c.c.Close(websocket.StatusUnsupportedData, "eddy speaks binary messages")
		return nil, errors.New("transport: text WebSocket message")
	}
	return c.buf[:n], nil
}

func wsErr(err error) error {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("transport: %w", err)
}

func (c *wsConn) WriteFrames(b []byte) error {
	for len(b) > 0 {
		payload, n, err := frame.Next(b, len(b))
		if err != nil || n == 0 {
			return fmt.Errorf("transport: partial frame in write buffer (%d bytes)", len(b))
		}
		if err := c.c.Write(context.Background(), websocket.MessageBinary, payload); err != nil {
			return fmt.Errorf("transport: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// Shutdown performs the WebSocket close handshake, closing the socket
// underneath if the peer has not answered within timeout.
func (c *wsConn) Shutdown(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- c.c.Close(websocket.StatusNormalClosure, "") }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case err = <-done:
	case <-t.C:
		c.forceClose()
		err = <-done
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil // the peer closed first: the connection is down either way
		}
		return fmt.Errorf("transport: %w", err)
	}
	return nil
}

func (c *wsConn) Close() error {
	c.forceClose()
	err := c.c.CloseNow()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("transport: %w", err)
	}
	return nil
}

func (c *wsConn) forceClose() {
	if c.raw != nil {
		_ = c.raw.Close()
	}
}
