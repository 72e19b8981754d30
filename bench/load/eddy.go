package load

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Buffer sizes of an EddyConn: reads fill a large buffer and every whole
// frame in it is handled before the next read; writes are queued and sent
// together on Flush, or as soon as flushAt bytes are queued.
const (
	readBufSize = 256 << 10
	flushAt     = 64 << 10
	maxInbound  = 64 << 20
	// callBit marks ids used by Call, so they never collide with the ids a
	// scenario puts on its own requests.
	callBit = uint64(1) << 63
)

// EddyOptions configure DialEddy.
type EddyOptions struct {
	// Transport is "tcp" (raw frames, default) or "ws" (WebSocket, no deflate).
	Transport string
	// Timeout bounds dialing, the WebSocket upgrade, handshake and login.
	// Default 10s.
	Timeout time.Duration
	// AuthData is the Login data (JSON); empty logs in anonymously.
	AuthData []byte
	// OnMessage receives, on the reader goroutine, every message that is
	// not a Ping, a Close or the answer to a Call. The View and everything
	// it returns are valid only during the call.
	OnMessage func(v *msg.View)
	// OnReadBatch, when set, runs on the reader goroutine after the
	// messages of one read were handled, just before it waits for more
	// bytes: a connection that answers what it reads (an RPC provider)
	// flushes its answers there, one write per batch.
	OnReadBatch func()
	// ReadBuffer is the initial read buffer size (it grows for larger
	// frames). Default 256 KiB; idle connections use far less.
	ReadBuffer int
	// Dialer, when set, opens the TCP connection (the connections scenario
	// spreads its clients over loopback source addresses).
	Dialer *net.Dialer
}

// EddyConn is a raw Eddy protocol connection built for load: one reader
// goroutine parses frames in place out of a large buffer, and writes are
// batched into one buffer flushed with a single Write. After the first
// messages nothing here allocates per message.
//
// Concurrency: Send, SendPayload and Flush may be called from any goroutine
// (a mutex orders them; the reader uses it to answer pings); Call from any
// goroutine; OnMessage runs on the reader goroutine.
type EddyConn struct {
	conn        net.Conn
	ws          bool
	onMessage   func(v *msg.View)
	onReadBatch func() // set once the reader starts

	// Reader state (reader goroutine, or Dial before the reader starts).
	rbuf   []byte
	r, w   int
	parser ws.Parser
	view   msg.View

	wmu struct {
		sync.Mutex
		buf     []byte
		scratch []byte
		mask    uint32 // xorshift state for WebSocket mask keys
		err     error
	}

	calls struct {
		sync.Mutex
		next    uint64
		pending map[uint64]chan callResult
	}

	closing atomic.Bool
	errMu   sync.Mutex
	err     error
	done    chan struct{}
}

type callResult struct {
	action  fb.Action
	code    uint16
	reason  string
	version int64
}

// DialEddy connects to addr (host:port), upgrades to WebSocket when asked,
// performs the handshake and an anonymous (or AuthData) login, and starts
// the reader goroutine.
func DialEddy(ctx context.Context, addr string, o EddyOptions) (*EddyConn, error) {
	c, err := dialEddy(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	c.onReadBatch = o.OnReadBatch
	go c.readLoop()
	return c, nil
}

// dialEddy connects and opens the session without starting the reader.
func dialEddy(ctx context.Context, addr string, o EddyOptions) (*EddyConn, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Transport == "" {
		o.Transport = "tcp"
	}
	if o.Transport != "tcp" && o.Transport != "ws" {
		return nil, fmt.Errorf("load: transport %q: want tcp or ws", o.Transport)
	}
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.Timeout}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("load: dial %s: %w", addr, err)
	}
	size := o.ReadBuffer
	if size <= 0 {
		size = readBufSize
	}
	c := &EddyConn{conn: nc, ws: o.Transport == "ws", onMessage: o.OnMessage, rbuf: make([]byte, size), done: make(chan struct{})}
	c.wmu.mask = uint32(time.Now().UnixNano()) | 1
	c.calls.pending = make(map[uint64]chan callResult)
	if err := c.open(addr, o); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

// open runs the upgrade, handshake and login synchronously.
func (c *EddyConn) open(addr string, o EddyOptions) error {
	_ = c.conn.SetDeadline(time.Now().Add(o.Timeout))
	defer func() { _ = c.conn.SetDeadline(time.Time{}) }()
	if c.ws {
		n, err := wsUpgrade(c.conn, addr, func() []byte { return c.rbuf[c.r:c.w] }, c.fill)
		if err != nil {
			return fmt.Errorf("load: websocket upgrade: %w", err)
		}
		c.r += n
		c.parser = ws.Parser{Client: true, MaxMessage: maxInbound}
	}
	if err := c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version}); err != nil {
		return err
	}
	if err := c.Send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1, Data: o.AuthData}); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return err
	}
	for step := 0; step < 2; {
		v, err := c.nextView("handshake")
		if err != nil {
			return err
		}
		switch {
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionHandshakeAck && step == 0:
			step++
		case v.Topic() == fb.TopicAuth && v.Action() == fb.ActionLoginResult && step == 1:
			if v.Code() != 0 {
				return fmt.Errorf("load: login refused: %s", v.Reason())
			}
			step++
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionClose:
			return fmt.Errorf("load: closed by the server during handshake: code %d: %s", v.Code(), v.Reason())
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPing:
		default:
			return fmt.Errorf("load: unexpected %s/%s during handshake", topicName(v.Topic()), actionName(v.Action()))
		}
	}
	return nil
}

// fill reads more bytes into rbuf, compacting or growing it as needed.
func (c *EddyConn) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.r > 0 && len(c.rbuf)-c.w < len(c.rbuf)/4 {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.rbuf) {
		if len(c.rbuf) >= 2*maxInbound {
			return errors.New("load: inbound frame too large")
		}
		grown := make([]byte, 2*len(c.rbuf))
		c.w = copy(grown, c.rbuf[c.r:c.w])
		c.r = 0
		c.rbuf = grown
	}
	n, err := c.conn.Read(c.rbuf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// nextPayload returns the next message payload; it aliases rbuf and is
// valid until the next call.
func (c *EddyConn) nextPayload() ([]byte, error) {
	for {
		if c.r < c.w {
			if c.ws {
				f, n, err := c.parser.Next(c.rbuf[c.r:c.w])
				if err != nil {
					return nil, err
				}
				if n > 0 {
					c.r += n
					switch f.Op {
					case ws.OpBinary:
						return f.Payload, nil
					case ws.OpPing:
						c.writeControl(ws.OpPong, f.Payload)
					case ws.OpClose:
						return nil, fmt.Errorf("load: websocket closed by the server: %d %s", f.CloseCode, f.CloseReason)
					case ws.OpText:
						return nil, errors.New("load: unexpected websocket text message")
					}
					continue
				}
			} else {
				p, n, err := frame.Next(c.rbuf[c.r:c.w], maxInbound)
				if err != nil {
					return nil, err
				}
				if n > 0 {
					c.r += n
					return p, nil
				}
			}
		}
		if c.onReadBatch != nil {
			c.onReadBatch()
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// nextView reads the next message into c.view; for the synchronous
// exchanges (handshake, an idle connection's check) before or without the
// reader goroutine. what names the exchange in errors.
func (c *EddyConn) nextView(what string) (*msg.View, error) {
	p, err := c.nextPayload()
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", what, err)
	}
	if err := c.view.Reset(p); err != nil {
		return nil, fmt.Errorf("load: %s: %w", what, err)
	}
	return &c.view, nil
}

func (c *EddyConn) readLoop() {
	defer close(c.done)
	for {
		p, err := c.nextPayload()
		if err != nil {
			if !c.closing.Load() {
				if errors.Is(err, io.EOF) {
					err = errors.New("load: connection closed by the server")
				}
				c.fail(err)
			}
			c.failCalls()
			return
		}
		if err := c.view.Reset(p); err != nil {
			c.fail(fmt.Errorf("load: server sent a malformed message: %w", err))
			_ = c.conn.Close()
			c.failCalls()
			return
		}
		v := &c.view
		if v.Topic() == fb.TopicConnection {
			switch v.Action() {
			case fb.ActionPing:
				_ = c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()})
				_ = c.Flush()
				continue
			case fb.ActionClose:
				if !c.closing.Load() {
					c.fail(fmt.Errorf("load: closed by the server: code %d: %s", v.Code(), v.Reason()))
				}
				continue
			}
		}
		// A forwarded RPC request carries the server's id, whose top bit
		// is set too: it is never the answer to a Call.
		if id := v.Id(); id&callBit != 0 && v.Action() != fb.ActionRequest {
			c.calls.Lock()
			ch := c.calls.pending[id]
			delete(c.calls.pending, id)
			c.calls.Unlock()
			if ch != nil {
				ch <- callResult{action: v.Action(), code: v.Code(), reason: string(v.Reason()), version: v.Version()}
				continue
			}
		}
		if c.onMessage != nil {
			c.onMessage(v)
		}
	}
}

func (c *EddyConn) failCalls() {
	c.calls.Lock()
	for id, ch := range c.calls.pending {
		ch <- callResult{code: uint16(protocol.CodeInternalError), reason: "connection lost"}
		delete(c.calls.pending, id)
	}
	c.calls.Unlock()
}

func (c *EddyConn) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

// Err returns the first failure seen on the connection, or nil.
func (c *EddyConn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Send encodes m and queues it (flushing first if the queue is large).
func (c *EddyConn) Send(m *msg.Msg) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ws {
		c.wmu.scratch = msg.Append(c.wmu.scratch[:0], m)
		c.appendFrameLocked(c.wmu.scratch)
	} else {
		start := len(c.wmu.buf)
		c.wmu.buf = append(c.wmu.buf, 0, 0, 0, 0)
		c.wmu.buf = msg.Append(c.wmu.buf, m)
		binary.LittleEndian.PutUint32(c.wmu.buf[start:], uint32(len(c.wmu.buf)-start-frame.HeaderSize))
	}
	return c.maybeFlushLocked()
}

// SendPayload queues an encoded message (copied; masked on WebSocket).
func (c *EddyConn) SendPayload(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ws {
		c.appendFrameLocked(p)
	} else {
		c.wmu.buf = frame.Append(c.wmu.buf, p)
	}
	return c.maybeFlushLocked()
}

func (c *EddyConn) appendFrameLocked(p []byte) {
	x := c.wmu.mask // xorshift32: a fresh mask key per frame, cheaply
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	c.wmu.mask = x
	key := [4]byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24)}
	c.wmu.buf = ws.AppendFrame(c.wmu.buf, ws.OpBinary, p, false, &key)
}

func (c *EddyConn) writeControl(op ws.Opcode, p []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	key := [4]byte{1, 2, 3, 4}
	c.wmu.buf = ws.AppendFrame(c.wmu.buf, op, p, false, &key)
	_ = c.flushLocked()
}

func (c *EddyConn) maybeFlushLocked() error {
	if len(c.wmu.buf) >= flushAt {
		return c.flushLocked()
	}
	return c.wmu.err
}

// Flush writes everything queued with one Write.
func (c *EddyConn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *EddyConn) flushLocked() error {
	if c.wmu.err != nil {
		return c.wmu.err
	}
	if len(c.wmu.buf) == 0 {
		return nil
	}
	_, err := c.conn.Write(c.wmu.buf)
	c.wmu.buf = c.wmu.buf[:0]
	if err != nil {
		c.wmu.err = fmt.Errorf("load: write: %w", err)
		if !c.closing.Load() {
			c.fail(c.wmu.err)
		}
	}
	return c.wmu.err
}

// Call sends m with a fresh id, flushes, and waits for the reply carrying
// that id. A reply whose action is Error, or a failure code, is an error.
func (c *EddyConn) Call(ctx context.Context, m *msg.Msg) error {
	_, err := c.CallVersion(ctx, m)
	return err
}

// CallVersion is Call returning the reply's version field (a record's
// version for a Read).
func (c *EddyConn) CallVersion(ctx context.Context, m *msg.Msg) (int64, error) {
	ch := make(chan callResult, 1)
	c.calls.Lock()
	c.calls.next++
	id := callBit | c.calls.next
	c.calls.pending[id] = ch
	c.calls.Unlock()
	m.ID = id
	err := c.Send(m)
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		c.calls.Lock()
		delete(c.calls.pending, id)
		c.calls.Unlock()
		return 0, err
	}
	select {
	case res := <-ch:
		if res.action == fb.ActionError || res.code != 0 {
			return 0, fmt.Errorf("load: %s/%s %s refused: code %d: %s", topicName(m.Topic), actionName(m.Action), m.Name, res.code, res.reason)
		}
		return res.version, nil
	case <-ctx.Done():
		c.calls.Lock()
		delete(c.calls.pending, id)
		c.calls.Unlock()
		return 0, ctx.Err()
	}
}

// Close closes the socket and waits for the reader goroutine to end.
func (c *EddyConn) Close() error {
	c.closing.Store(true)
	err := c.conn.Close()
	<-c.done
	return err
}

func topicName(t fb.Topic) string {
	if n, ok := fb.EnumNamesTopic[t]; ok {
		return n
	}
	return fmt.Sprintf("Topic(%d)", t)
}

func actionName(a fb.Action) string {
	if n, ok := fb.EnumNamesAction[a]; ok {
		return n
	}
	return fmt.Sprintf("Action(%d)", a)
}

// EddyTarget is an Eddy server reached at Addr over Transport.
type EddyTarget struct {
	Addr      string // host:port
	Trans     string // "tcp" or "ws"
	AuthData  []byte
	DialLimit time.Duration // per connection; default 10s
	// PID is the server's process id when it runs as a subprocess
	// (SpawnEddyProcess), for scenarios that read its memory; 0 otherwise.
	PID int
	// InProcess says the server shares this process (SpawnEddy).
	InProcess bool
}

var _ Target = (*EddyTarget)(nil)

// Name implements Target.
func (t *EddyTarget) Name() string { return "eddy" }

// Transport implements Target.
func (t *EddyTarget) Transport() string { return t.Trans }

// Dial implements Target.
func (t *EddyTarget) Dial(ctx context.Context) (Client, error) {
	ec := &eddyClient{confirmed: make(chan struct{}, confirmBuffer)}
	c, err := DialEddy(ctx, t.Addr, EddyOptions{Transport: t.Trans, Timeout: t.DialLimit, AuthData: t.AuthData,
		OnMessage: ec.onMessage, OnReadBatch: ec.onReadBatch})
	if err != nil {
		return nil, err
	}
	ec.c = c
	return ec, nil
}

// confirmBuffer is the capacity of every Client's Confirmed channel.
const confirmBuffer = 1024

// eddyClient adapts EddyConn to Client for the event scenarios, and to
// RecordClient, RPCClient and DurableClient (records.go, rpc.go,
// durable.go).
type eddyClient struct {
	c         *EddyConn
	confirmed chan struct{}
	deliver   atomic.Pointer[func([]byte)]
	rec       eddyRecords
	rpc       eddyRPC

	// Publisher goroutine only.
	nextID  uint64
	tmpl    []byte // an encoded Emit whose data is overwritten in place
	tmplFor string // the name it was built for
	dataOff int
	out     msg.Msg
}

func (e *eddyClient) onMessage(v *msg.View) {
	switch v.Topic() {
	case fb.TopicEvent:
	case fb.TopicRecord:
		e.onRecord(v)
		return
	case fb.TopicRpc:
		e.onRPC(v)
		return
	default:
		e.c.fail(fmt.Errorf("load: unexpected %s/%s", topicName(v.Topic()), actionName(v.Action())))
		return
	}
	switch v.Action() {
	case fb.ActionEmit:
		if d := e.deliver.Load(); d != nil {
			(*d)(v.DataBytes())
		}
	case fb.ActionAck:
		select {
		case e.confirmed <- struct{}{}:
		default: // never block the reader: Close must be able to stop it
			e.c.fail(errors.New("load: more Acks than confirmations asked for"))
		}
	case fb.ActionError:
		e.c.fail(fmt.Errorf("load: Event error for %q: code %d: %s", v.Name(), v.Code(), v.Reason()))
	}
}

func (e *eddyClient) Subscribe(ctx context.Context, name string, deliver func([]byte)) error {
	e.deliver.Store(&deliver)
	return e.c.Call(ctx, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, Name: name})
}

func (e *eddyClient) Publish(name string, data []byte, confirm bool) error {
	if confirm {
		e.nextID++
		e.out = msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, ID: e.nextID, Name: name, Data: data}
		return e.c.Send(&e.out)
	}
	if e.tmpl == nil || e.tmplFor != name || !e.fits(len(data)) {
		if err := e.buildTemplate(name, len(data)); err != nil {
			return err
		}
	}
	copy(e.tmpl[e.dataOff:], data)
	return e.c.SendPayload(e.tmpl)
}

// fits reports whether the template was built for data of length n (the
// FlatBuffers layout depends only on the lengths of the fields).
func (e *eddyClient) fits(n int) bool {
	return binary.LittleEndian.Uint32(e.tmpl[e.dataOff-4:]) == uint32(n)
}

func (e *eddyClient) buildTemplate(name string, n int) error {
	marker := bytes.Repeat([]byte{0xA5}, n)
	enc := msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: name, Data: marker})
	off := bytes.Index(enc, marker)
	if off < 4 {
		return errors.New("load: cannot locate the data of an encoded Emit")
	}
	e.tmpl, e.tmplFor, e.dataOff = enc, name, off
	return nil
}

func (e *eddyClient) Flush() error               { return e.c.Flush() }
func (e *eddyClient) Confirmed() <-chan struct{} { return e.confirmed }
func (e *eddyClient) Err() error                 { return e.c.Err() }
func (e *eddyClient) Close() error               { return e.c.Close() }

// wsUpgrade sends a client upgrade request on conn and reads the answer:
// buffered returns the bytes read so far, fill reads more. It returns how
// many buffered bytes the answer took.
func wsUpgrade(conn net.Conn, addr string, buffered func() []byte, fill func() error) (int, error) {
	key := ws.NewKey()
	if _, err := conn.Write(ws.AppendRequest(nil, addr, "/", key, false, nil)); err != nil {
		return 0, err
	}
	for {
		_, n, err := ws.ParseResponseOffer(buffered(), key, false)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return n, nil
		}
		if err := fill(); err != nil {
			return 0, err
		}
	}
}
