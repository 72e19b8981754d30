package eddy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/backoff"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
	"github.com/eddy-realtime/eddy/sdk-go/internal/track"
	"github.com/eddy-realtime/eddy/sdk-go/internal/transport"
)

// clientInfo is the Handshake data this SDK sends.
var clientInfo = []byte(`{"sdk":"go"}`)

// Client is a connection to an Eddy server that survives reconnects. Create
// it with Dial; every method is safe from any goroutine.
type Client struct {
	// Event publishes and subscribes to events.
	Event *Events
	// RPC provides and makes remote procedure calls.
	RPC *RPC
	// Presence tells who is online.
	Presence *Presence
	// Record reads, writes and subscribes to records.
	Record *Records

	addr string
	opts options
	auth []byte // marshalled WithAuth value; nil for anonymous

	tracker track.Tracker
	disp    *dispatcher
	// topics routes inbound messages (other than replies matched by id) by
	// topic; filled before the first connection, read-only afterwards.
	topics [fb.TopicPresence + 1]func(cn *conn.Conn, v *msg.View)
	// errorHooks see, by topic, the errors no request was waiting for
	// (reader goroutine), before they go to the error handler; filled
	// before the first connection.
	errorHooks [fb.TopicPresence + 1]func(cn *conn.Conn, v *msg.View)
	// resubscribe runs on every new connection after a reconnect, in order,
	// before the client reports Open.
	resubscribe []func(cn *conn.Conn)

	cur atomic.Pointer[conn.Conn] // the live connection; nil while disconnected

	mu struct {
		sync.Mutex
		state      ConnectionState
		user       string
		clientData json.RawMessage
		closing    bool  // Close was called: install no more connections
		stopped    bool  // Close was called or a terminal state was reached
		err        error // why the client stopped
	}

	ctx       context.Context // cancelled by Close: aborts redials
	cancel    context.CancelFunc
	closeOnce sync.Once
	supDone   chan struct{} // closed when the supervisor exits
	running   atomic.Int32  // goroutines (dispatcher, supervisor) still running
	done      chan struct{} // closed when running reaches zero
}

// Dial connects to addr, performs the handshake and logs in, and returns a
// ready client. addr is tcp://host:port (raw TCP, default port 6021; a
// bare host:port is the same), tls://host:port (raw TCP in TLS),
// ws://host:port/path or wss://.... An address that does not answer as an
// Eddy server (silence until the dial timeout, HTTP on a tcp:// address,
// no HTTP on a ws:// one) fails with an error matching ErrNotEddy.
//
// ctx bounds this first connection only (together with WithDialTimeout);
// Dial makes a single attempt. A refused login is an *Error matching
// ErrAuthFailed; a server speaking another protocol version matches
// ErrUnsupportedVersion.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	var auth []byte
	if o.hasAuth {
		b, err := json.Marshal(o.auth)
		if err != nil {
			return nil, wrapErr("auth data", err)
		}
		auth = b
	}
	c := newClient(addr, o, auth)
	go c.disp.run()
	c.mu.state = Connecting
	c.notifyState(Connecting)

	cn, w, err := c.connect(ctx)
	if err != nil {
		state := Closed
		if isLoginRefusal(err) {
			state = AuthFailed
		}
		c.stop(state, err, false)
		c.cancel()
		close(c.supDone)
		<-c.done
		return nil, err
	}
	c.running.Add(1)
	c.install(cn, w, false)
	go c.supervise(cn)
	return c, nil
}

// newClient builds a client with no connection and no goroutines.
func newClient(addr string, o options, auth []byte) *Client {
	c := &Client{addr: addr, opts: o, auth: auth, supDone: make(chan struct{}), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.disp = newDispatcher(o.pendingLimit, func() { c.reportError(ErrSlowConsumer) }, c.exited)
	c.Event = newEvents(c)
	c.topics[fb.TopicEvent] = c.Event.onMessage
	c.resubscribe = append(c.resubscribe, c.Event.resubscribe)
	c.resubscribe = append(c.resubscribe, c.Event.listen.relisten)
	c.RPC = newRPC(c)
	c.topics[fb.TopicRpc] = c.RPC.onMessage
	c.resubscribe = append(c.resubscribe, c.RPC.resubscribe)
	c.Presence = newPresence(c)
	c.topics[fb.TopicPresence] = c.Presence.onMessage
	c.resubscribe = append(c.resubscribe, c.Presence.resubscribe)
	c.Record = newRecords(c)
	c.topics[fb.TopicRecord] = c.Record.onMessage
	c.resubscribe = append(c.resubscribe, c.Record.listen.relisten)
	c.errorHooks[fb.TopicRecord] = c.Record.onError
	c.resubscribe = append(c.resubscribe, c.Record.resubscribe)
	c.running.Store(1) // the dispatcher
	return c
}

// connect makes one attempt: transport, handshake, login, then starts the
// connection's goroutines.
func (c *Client) connect(ctx context.Context) (*conn.Conn, conn.Welcome, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.dialTimeout)
	defer cancel()
	auth, err := c.authData(ctx)
	if err != nil {
		return nil, conn.Welcome{}, err
	}
	start := time.Now()
	t, err := transport.Dial(ctx, c.addr, transport.Options{MaxFrame: c.opts.maxFrame, TLS: c.opts.tls, Compression: c.opts.compression})
	if err != nil {
		return nil, conn.Welcome{}, dialError(c.addr, err, time.Since(start))
	}
	w, err := conn.Handshake(ctx, t, auth, clientInfo, c.opts.maxFrame)
	if err != nil {
		_ = t.Close()
		return nil, w, dialError(c.addr, err, time.Since(start))
	}
	hb := c.opts.heartbeat
	switch {
	case hb < 0:
		hb = 0
	case hb == 0 && w.HeartbeatMs > 0:
		hb = time.Duration(w.HeartbeatMs) * time.Millisecond
	case hb == 0:
		hb = DefaultHeartbeat
	}
	cn := conn.Start(conn.Config{
		Transport: t,
		MaxFrame:  c.opts.maxFrame,
		Heartbeat: hb,
		OnMessage: c.onMessage,
		Logger:    c.opts.logger,
	})
	return cn, w, nil
}

// authData returns the login data for one connection attempt: WithAuth's,
// or what WithAuthFunc's function returns now.
func (c *Client) authData(ctx context.Context) ([]byte, error) {
	fn := c.opts.authFunc
	if fn == nil {
		return c.auth, nil
	}
	data, err := fn(ctx)
	if err != nil {
		return nil, wrapErr("auth func", err)
	}
	if data == nil {
		return nil, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, wrapErr("auth func data", err)
	}
	return b, nil
}

// final reports whether e, a login refusal or a close by the server, ends
// the client: its code forbids reconnecting, unless it is TokenExpired and
// WithAuthFunc can supply fresh credentials.
func (c *Client) final(e *Error) bool {
	if e.Code == protocol.CodeTokenExpired && c.opts.authFunc != nil {
		return false
	}
	return !e.Code.Reconnect()
}

// lostError reports a dropped connection: it matches ErrConnectionLost and
// its cause.
type lostError struct{ cause error }

func (e *lostError) Error() string {
	return "eddy: connection lost: " + strings.TrimPrefix(e.cause.Error(), "eddy: ")
}

func (e *lostError) Unwrap() []error { return []error{ErrConnectionLost, e.cause} }

func isLoginRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Op == "login"
}

// install makes cn the live connection unless the client stopped meanwhile,
// renews subscriptions on it and reports Open. After a reconnect (renewed)
// Open waits until the server has processed the renewals, so that what is
// published after Open reaches the renewed subscriptions.
func (c *Client) install(cn *conn.Conn, w conn.Welcome, renewed bool) bool {
	c.mu.Lock()
	if c.mu.stopped || c.mu.closing {
		c.mu.Unlock()
		cn.Close(protocol.CodeNormalClose, "", closeTimeout)
		return false
	}
	c.mu.user, c.mu.clientData = w.User, w.ClientData
	c.cur.Store(cn)
	c.mu.Unlock()
	for _, h := range c.resubscribe {
		h(cn)
	}
	if renewed {
		if err := cn.Sync(c.ctx); err != nil {
			// The connection ended (supervise redials) or the client closed.
			c.opts.logger.Debug("eddy: renewal not confirmed", "addr", c.addr, "err", err)
			return true
		}
	}
	c.setState(Open)
	c.opts.logger.Info("eddy: connected", "addr", c.addr, "user", w.User)
	return true
}

// supervise waits for each connection to end and reconnects.
func (c *Client) supervise(cn *conn.Conn) {
	defer c.exited()
	defer close(c.supDone)
	for {
		select {
		case <-cn.Done():
		case <-c.ctx.Done():
			return
		}
		cn.Wait()
		c.cur.CompareAndSwap(cn, nil)
		c.tracker.Fail(cn, ErrConnectionLost)
		if c.ctx.Err() != nil {
			return
		}
		cause := publicError(cn.Err())
		c.opts.logger.Info("eddy: connection lost", "addr", c.addr, "err", cause)
		c.reportError(&lostError{cause})
		var e *Error
		if errors.As(cause, &e) && e.Op == "close" && c.final(e) {
			c.stop(Closed, cause, false)
			return
		}
		if !c.opts.reconnect {
			c.stop(Closed, cause, false)
			return
		}
		c.setState(Reconnecting)
		if cn = c.redial(); cn == nil {
			return
		}
	}
}

// redial connects again with backoff until it succeeds (returning the new
// connection), the client is closed, or the server refuses for good.
func (c *Client) redial() *conn.Conn {
	b := backoff.Backoff{Min: c.opts.reconnectMin, Max: c.opts.reconnectMax}
	for {
		t := time.NewTimer(b.Next())
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return nil
		}
		cn, w, err := c.connect(c.ctx)
		if err == nil {
			if c.install(cn, w, true) {
				return cn
			}
			return nil
		}
		if c.ctx.Err() != nil {
			return nil
		}
		var e *Error
		if errors.As(err, &e) && c.final(e) {
			state := Closed
			if e.Op == "login" {
				state = AuthFailed
			}
			c.reportError(err)
			c.stop(state, err, false)
			return nil
		}
		c.opts.logger.Debug("eddy: reconnect failed", "addr", c.addr, "attempt", b.Attempt(), "err", err)
	}
}

// onMessage routes one inbound message (reader goroutine): replies carrying
// an id go to the tracker, unmatched errors to the error handler, the rest
// to their topic.
func (c *Client) onMessage(cn *conn.Conn, v *msg.View) {
	switch v.Action() {
	case fb.ActionAck, fb.ActionError:
		if id := v.Id(); id != 0 && c.tracker.Resolve(id, v) {
			return
		}
		if v.Action() == fb.ActionError {
			if t := int(v.Topic()); t < len(c.errorHooks) && c.errorHooks[t] != nil {
				c.errorHooks[t](cn, v)
			}
			c.reportError(&Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: "server", Name: string(v.Name())})
		}
		return
	}
	if t := int(v.Topic()); t < len(c.topics) && c.topics[t] != nil {
		c.topics[t](cn, v)
		return
	}
	c.opts.logger.Debug("eddy: unexpected message", "topic", v.Topic(), "action", v.Action())
}

// setState records and reports a state change (no-op once stopped).
func (c *Client) setState(s ConnectionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.stopped || c.mu.state == s {
		return
	}
	c.mu.state = s
	c.notifyState(s)
}

// notifyState queues the state handler; callers hold c.mu so handlers see
// states in the order they were set.
func (c *Client) notifyState(s ConnectionState) {
	if fn := c.opts.onState; fn != nil {
		c.disp.call(func() { fn(s) })
	}
}

// reportError logs err and queues it for the error handler.
func (c *Client) reportError(err error) {
	c.opts.logger.Warn("eddy: error", "err", err)
	if fn := c.opts.onError; fn != nil {
		c.disp.call(func() { fn(err) })
	}
}

// stop moves the client to a terminal state, fails waiting requests and
// lets the dispatcher finish (dropping queued events when dropEvents). It
// reports whether this call stopped the client.
func (c *Client) stop(state ConnectionState, err error, dropEvents bool) bool {
	c.mu.Lock()
	if c.mu.stopped {
		c.mu.Unlock()
		return false
	}
	c.mu.stopped = true
	c.mu.err = err
	if c.mu.state != state {
		c.mu.state = state
		c.notifyState(state)
	}
	c.mu.Unlock()
	c.tracker.Fail(nil, ErrClosed)
	c.disp.stop(dropEvents)
	c.opts.logger.Info("eddy: stopped", "addr", c.addr, "state", state, "err", err)
	return true
}

func (c *Client) exited() {
	if c.running.Add(-1) == 0 {
		close(c.done)
	}
}

// Close says goodbye to the server (Connection/Close with NormalClose),
// closes the connection, stops reconnecting and stops the client's
// goroutines. The connection's goroutines have exited when it returns; the
// callback goroutine finishes the callback it may be running, delivers the
// final Closed state and exits without running queued event callbacks
// (Done reports when). Close may be called from a callback, and any number
// of times; it always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.mu.Lock()
		wasStopped := c.mu.stopped
		c.mu.closing = true
		cn := c.cur.Swap(nil) // under mu: install cannot slip a connection in after this
		c.mu.Unlock()
		if cn != nil {
			cn.Close(protocol.CodeNormalClose, "", closeTimeout)
		}
		<-c.supDone
		if !wasStopped {
			c.stop(Closed, ErrClosed, true)
		} else {
			c.disp.stop(true)
		}
	})
	return nil
}

// Done is closed once the client has stopped for good (Close, or a
// terminal state) and all its goroutines, the callback goroutine included,
// have exited.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err reports why the client stopped: nil while it runs, ErrClosed after
// Close, otherwise the error that led to Closed or AuthFailed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.err
}

// State returns the current connection state.
func (c *Client) State() ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.state
}

// User returns the user id of the last successful login.
func (c *Client) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.user
}

// ClientData returns the clientData JSON of the last successful login (nil
// if the server sent none). The caller owns the returned slice.
func (c *Client) ClientData() json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.clientData == nil {
		return nil
	}
	return append(json.RawMessage(nil), c.mu.clientData...)
}

// live returns the live connection, or the error a call needing one
// should return: ErrClosed once stopped, ErrNotConnected while reconnecting.
func (c *Client) live() (*conn.Conn, error) {
	if cn := c.cur.Load(); cn != nil {
		return cn, nil
	}
	return nil, c.disconnectedErr()
}

func (c *Client) disconnectedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.stopped || c.mu.closing {
		return ErrClosed
	}
	return ErrNotConnected
}

// sendErr maps an error from a connection's Send to the public one.
func (c *Client) sendErr(err error) error {
	if errors.Is(err, conn.ErrClosed) {
		return c.disconnectedErr()
	}
	return publicError(err)
}
