package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// NATSTarget is a NATS server reached at URL ("nats://127.0.0.1:4222"),
// driven through github.com/nats-io/nats.go with the same scenario code as
// Eddy: one nats.Conn per client, subjects named like the event names.
type NATSTarget struct {
	URL string
	// WSAddr is the server's WebSocket listener (host:port), if any; the
	// connections scenario dials it with the "ws" transport.
	WSAddr string
	// PID is the server's process id when this process started it, for
	// scenarios that read its memory; 0 otherwise.
	PID int
	// Trans is "ws" to reach the server over WebSocket (WSAddr), "tcp" or
	// empty for its client port.
	Trans string
}

var _ Target = (*NATSTarget)(nil)

// Name implements Target.
func (t *NATSTarget) Name() string { return "nats" }

// Transport implements Target: NATS's own text protocol over TCP, or
// inside WebSocket messages.
func (t *NATSTarget) Transport() string {
	if t.Trans == "ws" {
		return "ws"
	}
	return "tcp"
}

// Dial implements Target.
func (t *NATSTarget) Dial(ctx context.Context) (Client, error) {
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	url := t.URL
	if t.Trans == "ws" {
		url = "ws://" + t.WSAddr
	}
	c := &natsClient{confirmed: make(chan struct{}, confirmBuffer), marks: make(chan struct{}, confirmBuffer), done: make(chan struct{})}
	nc, err := nats.Connect(url,
		nats.Name("eddy-bench"),
		nats.Timeout(timeout),
		nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { c.fail(err) }),
		nats.ClosedHandler(func(*nats.Conn) {
			if !c.isClosing() {
				c.fail(fmt.Errorf("load: nats connection closed"))
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("load: nats connect %s: %w", url, err)
	}
	c.nc = nc
	go c.flusher()
	return c, nil
}

// natsClient adapts a nats.Conn to Client. Confirmations are PING/PONG
// round trips (nats.Conn.Flush): the server answers a PING only after
// processing everything sent before it, as Eddy acks an Emit only after
// fanning it out. A flusher goroutine coalesces the marks waiting when it
// runs into one round trip, so marks pipeline like Eddy's acks.
type natsClient struct {
	nc        *nats.Conn
	sub       *nats.Subscription
	confirmed chan struct{}
	marks     chan struct{}
	done      chan struct{}

	rec natsRecords // records.go
	rpc natsRPC     // rpc.go

	mu      sync.Mutex
	err     error
	closing bool
}

func (c *natsClient) flusher() {
	defer close(c.done)
	for range c.marks {
		n := 1
		for more := true; more; {
			select {
			case _, ok := <-c.marks:
				if !ok {
					more = false
					break
				}
				n++
			default:
				more = false
			}
		}
		if err := c.nc.FlushTimeout(10 * time.Second); err != nil {
			if !c.isClosing() {
				c.fail(fmt.Errorf("load: nats flush: %w", err))
			}
			continue
		}
		for ; n > 0; n-- {
			select {
			case c.confirmed <- struct{}{}:
			default: // the publisher keeps fewer outstanding than the buffer holds
				c.fail(errors.New("load: confirmations overflowed"))
			}
		}
	}
}

func (c *natsClient) Subscribe(ctx context.Context, name string, deliver func([]byte)) error {
	sub, err := c.nc.Subscribe(name, func(m *nats.Msg) { deliver(m.Data) })
	if err != nil {
		return fmt.Errorf("load: nats subscribe: %w", err)
	}
	// The scenario's own window bounds what is pending; no client-side drops.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("load: nats subscribe: %w", err)
	}
	c.sub = sub
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("load: nats subscribe: %w", err)
	}
	return nil
}

func (c *natsClient) Publish(name string, data []byte, confirm bool) error {
	if err := c.nc.Publish(name, data); err != nil {
		return fmt.Errorf("load: nats publish: %w", err)
	}
	if confirm {
		c.marks <- struct{}{}
	}
	return nil
}

// Flush is a no-op: nats.go's own flusher goroutine writes what Publish buffered.
func (c *natsClient) Flush() error               { return nil }
func (c *natsClient) Confirmed() <-chan struct{} { return c.confirmed }

func (c *natsClient) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *natsClient) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *natsClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *natsClient) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	recDone := c.rec.done
	if recDone != nil {
		close(c.rec.quit)
	}
	c.mu.Unlock()
	c.nc.Close()
	close(c.marks)
	<-c.done
	if recDone != nil {
		<-recDone
	}
	return nil
}
