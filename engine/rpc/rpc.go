package rpc

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/internal/shard"
	"github.com/eddy-realtime/eddy/engine/internal/subset"
	"github.com/eddy-realtime/eddy/engine/internal/timewheel"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Errors returned to the session, which answers them with the matching
// catalogue code.
var (
	ErrAlreadyProvided = errors.New("rpc: this connection already provides this rpc")
	ErrNotProvided     = errors.New("rpc: this connection does not provide this rpc")
	ErrUnknownRequest  = errors.New("rpc: no such request is pending for this connection")
	ErrClosed          = errors.New("rpc: connection closed")
)

// Conn is where a Peer's messages go. Send must copy payload and must not
// block; netloop.Conn satisfies it.
type Conn interface {
	Send(payload []byte) error
}

// Selection is how the table picks among a name's providers.
type Selection uint8

const (
	// RoundRobin takes the providers of a name in turn.
	RoundRobin Selection = iota
	// Random picks a provider uniformly at random.
	Random
)

// Config tunes a Table. Zero values mean the documented defaults.
type Config struct {
	Selection Selection
	// AcceptTimeout bounds the time a provider has to accept. Default 1s.
	AcceptTimeout time.Duration
	// ResponseTimeout bounds the time from forwarding a request to the
	// provider that accepted it until its response. Default 10s.
	ResponseTimeout time.Duration
	// ExposeRequester sends the requester's user name to the provider.
	ExposeRequester bool
	// Tick is the deadline resolution (the timing wheel's slot width).
	// Default 10ms.
	Tick time.Duration
	// Now is the clock; default time.Now. Tests drive deadlines with it.
	Now func() time.Time
	// MaxTimeout caps the response and accept timeouts a requester may
	// ask for. Default 60s.
	MaxTimeout time.Duration
	// MaxPending and MaxPendingBytes bound the requests in flight on the
	// server (count, and bytes of name and data). Defaults 100000 and
	// 256 MiB.
	MaxPending, MaxPendingBytes int
	// MaxPendingPerConn and MaxPendingBytesPerConn bound the requests one
	// connection has in flight. Defaults 1000 and 16 MiB.
	MaxPendingPerConn, MaxPendingBytesPerConn int
	// OnTimeout, when set, is called for every request that fails on a
	// deadline: accept is true for the accept timeout, false for the
	// response timeout. It runs under a table lock and must be cheap.
	OnTimeout func(accept bool)
}

// wheelSlots per shard: 64 slots of 10ms make a 640ms revolution; longer
// deadlines wait a few revolutions in their slot. Kept small because every
// shard has its own wheel (256 × 64 × 40 bytes).
const wheelSlots = 64

// Bus tells the other nodes of a cluster which names this node's
// providers provide.
type Bus interface {
	// Provided is told that local provider p started (on) or stopped
	// providing name. Calls for one Peer come in the order they happened,
	// from the goroutine that owns p; it must not block.
	Provided(p *Peer, name string, on bool)
}

// Table holds providers and pending requests.
type Table struct {
	bus       Bus
	cfg       Config
	seq       atomic.Uint64 // last server-side request id
	live      atomic.Int64  // pending requests
	liveBytes atomic.Int64  // their sizes
	providers [shard.Count]providerShard
	requests  [shard.Count]requestShard
}

type providerShard struct {
	mu    sync.RWMutex
	names map[string]*providers
}

type providers struct {
	set  *subset.Set[*Peer] // changed under the shard's lock, read without
	next atomic.Uint32      // round-robin cursor
}

type requestShard struct {
	mu    sync.Mutex
	m     map[uint64]*request
	wheel timewheel.Wheel[*request]
	size  atomic.Int32 // len(m), readable without mu so Expire skips idle shards
}

// New returns an empty table. Call Run on one goroutine to enforce deadlines.
func New(cfg Config) *Table {
	if cfg.AcceptTimeout <= 0 {
		cfg.AcceptTimeout = time.Second
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 10 * time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = time.Minute
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 100000
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = 256 << 20
	}
	if cfg.MaxPendingPerConn <= 0 {
		cfg.MaxPendingPerConn = 1000
	}
	if cfg.MaxPendingBytesPerConn <= 0 {
		cfg.MaxPendingBytesPerConn = 16 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Table{cfg: cfg}
	start := cfg.Now()
	for i := range t.providers {
		t.providers[i].names = make(map[string]*providers)
	}
	for i := range t.requests {
		t.requests[i].m = make(map[uint64]*request)
		t.requests[i].wheel.Init(cfg.Tick, wheelSlots, start)
	}
	return t
}

// SetBus connects the table to a cluster; call it before use.
func (t *Table) SetBus(b Bus) { t.bus = b }

// Peer is one connection's handle on the table, as provider and requester.
type Peer struct {
	id       uint64 // unique in this process, names the provider to other nodes
	conn     Conn
	user     string
	remote   bool                // a provider on another node (see NewRemotePeer)
	node     bool                // requests relayed from another node (NewNodePeer): no per-connection bounds
	provides map[string]struct{} // owner-only: Provide, Unprovide, Close
	mu       struct {
		sync.Mutex
		closed bool
		asked  map[uint64]struct{} // requests assigned to this peer as provider
		made   map[uint64]struct{} // requests this peer made
		bytes  int                 // sizes of the requests in made
	}
}

// NewPeer returns a handle for a connection whose user is user ("" when
// anonymous). Close it when the connection ends.
func NewPeer(conn Conn, user string) *Peer {
	return &Peer{id: peerIDs.Add(1), conn: conn, user: user}
}

var peerIDs atomic.Uint64

// ID returns p's number, unique in this process.
func (p *Peer) ID() uint64 { return p.id }

// NewRemotePeer returns a handle for a provider on another node: conn
// carries the requests to that node. Requests go to providers on this
// node first, then to remote ones. A failed Send means the node cannot be
// reached: the request moves on at once, and fails with
// RpcProviderUnreachable when that was why no provider was left.
func NewRemotePeer(conn Conn) *Peer { return &Peer{id: peerIDs.Add(1), conn: conn, remote: true} }

// NewNodePeer returns the requester handle for the requests another node
// relays here (RequestTo): they count against the server's bounds, not a
// connection's, since the node that owns them bounds its own clients.
func NewNodePeer(conn Conn) *Peer { return &Peer{id: peerIDs.Add(1), conn: conn, node: true} }

// Provides reports whether p provides name. Same goroutine rules as
// Provide.
func (p *Peer) Provides(name string) bool {
	_, ok := p.provides[name]
	return ok
}

// Call is one request as the requester sent it. Name and Data are copied.
type Call struct {
	ID            uint64 // the requester's correlation id
	Name          []byte
	Data          []byte        // JSON; nil when absent
	Timeout       time.Duration // response timeout; 0: the table's
	AcceptTimeout time.Duration // 0: the table's
	// User is the requester's user name when it is not the Peer's own: a
	// request relayed from another node (RequestTo).
	User string
}

type request struct {
	id              uint64 // server-side id, the key in the shard map
	reqID           uint64 // requester's id
	requester       *Peer
	provider        *Peer // nil between a provider leaving and the reroute
	accepted        bool
	sent            time.Time // when the current provider was sent the request
	acceptTimeout   time.Duration
	responseTimeout time.Duration
	tried           []*Peer
	target          *Peer // RequestTo: the only provider to ask
	size            int   // bytes counted against the pending bounds
	unreachable     bool  // a provider could not be sent the request
	name            []byte
	frame           []byte // the Request as providers get it
	timer           timewheel.Timer[*request]
}

var requestPool = sync.Pool{New: func() any {
	r := &request{}
	r.timer.Value = r
	return r
}}

func getRequest() *request { return requestPool.Get().(*request) }

func putRequest(r *request) {
	r.requester, r.provider, r.accepted, r.target, r.unreachable = nil, nil, false, nil, false
	clear(r.tried)
	r.tried = r.tried[:0]
	if cap(r.frame) > maxKeep {
		r.frame = nil
	}
	requestPool.Put(r)
}

const maxKeep = 64 << 10

// ServerIDBit is set in every id the table gives a forwarded request, so
// these ids never collide with the ids a client picks for its own requests
// (which count up from 1): an Error about a provider's stray answer cannot
// be mistaken by the client for the answer to one of its own requests.
const ServerIDBit = 1 << 63

// Provide registers p as a provider of name.
func (t *Table) Provide(p *Peer, name string) error {
	if _, dup := p.provides[name]; dup {
		return ErrAlreadyProvided
	}
	p.mu.Lock()
	closed := p.mu.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if p.provides == nil {
		p.provides = make(map[string]struct{})
	}
	p.provides[name] = struct{}{}
	sh := &t.providers[shard.Index(name)]
	sh.mu.Lock()
	if ps := sh.names[name]; ps == nil {
		sh.names[name] = &providers{set: subset.New(p)}
	} else {
		ps.set.Add(p)
	}
	sh.mu.Unlock()
	if t.bus != nil && !p.remote {
		t.bus.Provided(p, name, true)
	}
	return nil
}

// Unprovide removes p from name's providers. Requests already sent to p
// stay with it.
func (t *Table) Unprovide(p *Peer, name string) error {
	if _, ok := p.provides[name]; !ok {
		return ErrNotProvided
	}
	delete(p.provides, name)
	t.removeProvider(name, p)
	if t.bus != nil && !p.remote {
		t.bus.Provided(p, name, false)
	}
	return nil
}

func (t *Table) removeProvider(name string, p *Peer) {
	sh := &t.providers[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ps := sh.names[name]
	if ps != nil && ps.set.Remove(p) && ps.set.Len() == 0 {
		delete(sh.names, name)
	}
}

// Request routes c from p to a provider. Every outcome reaches p through
// its Conn: Accept, Response or RequestError carrying c.ID.
func (t *Table) Request(p *Peer, c *Call) { t.start(p, c, nil) }

// RequestTo relays c, a request another node routed to provider, to it
// alone: instead of moving on to another provider, a reject, an accept
// timeout or the provider leaving before it accepted reach p as a Reject
// carrying c.ID, so the node that owns the request picks the next
// provider. Accept, Response and RequestError reach p as with Request.
func (t *Table) RequestTo(p *Peer, c *Call, provider *Peer) { t.start(p, c, provider) }

func (t *Table) start(p *Peer, c *Call, target *Peer) {
	now := t.cfg.Now()
	r := getRequest()
	r.target = target
	r.id = t.seq.Add(1) | ServerIDBit
	r.reqID = c.ID
	r.requester = p
	r.name = append(r.name[:0], c.Name...)
	r.acceptTimeout, r.responseTimeout = t.cfg.AcceptTimeout, t.cfg.ResponseTimeout
	if c.AcceptTimeout > 0 {
		r.acceptTimeout = c.AcceptTimeout
	}
	if c.Timeout > 0 {
		r.responseTimeout = c.Timeout
	}
	r.responseTimeout = min(r.responseTimeout, t.cfg.MaxTimeout)
	r.acceptTimeout = min(r.acceptTimeout, r.responseTimeout)
	m := msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: r.id, Name: msg.UnsafeString(r.name), Data: c.Data,
		TimeoutMs: millis(r.responseTimeout), AcceptTimeoutMs: millis(r.acceptTimeout)}
	if t.cfg.ExposeRequester {
		m.User = p.user
		if c.User != "" {
			m.User = c.User
		}
	}
	r.frame = msg.Append(r.frame[:0], &m)
	r.size = len(r.frame)

	sh := &t.requests[r.id&(shard.Count-1)]
	sh.mu.Lock()
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		sh.mu.Unlock()
		putRequest(r)
		return
	}
	if limit := t.overLimit(p, r.size); limit != "" {
		p.mu.Unlock()
		sh.mu.Unlock()
		if target != nil {
			send(p.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionReject, ID: c.ID})
		} else {
			send(p.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequestError, ID: c.ID, Name: msg.UnsafeString(c.Name),
				Code: uint16(protocol.CodeRpcTooManyPending), Reason: "Rpc Request " + string(c.Name) + ": " + protocol.CodeRpcTooManyPending.Message() + " (" + limit + ")"})
		}
		putRequest(r)
		return
	}
	if p.mu.made == nil {
		p.mu.made = make(map[uint64]struct{})
	}
	p.mu.made[r.id] = struct{}{}
	p.mu.bytes += r.size
	p.mu.Unlock()
	t.liveBytes.Add(int64(r.size))
	sh.m[r.id] = r
	sh.size.Add(1)
	t.live.Add(1)
	if t.routeLocked(sh, r, now) {
		sh.mu.Unlock()
		return
	}
	t.noProviderLocked(sh, r, "")
	sh.mu.Unlock()
	putRequest(r)
}

// overLimit names the bound a new request of size bytes from p would
// pass, or returns "". p.mu is held.
func (t *Table) overLimit(p *Peer, size int) string {
	switch {
	case !p.node && len(p.mu.made) >= t.cfg.MaxPendingPerConn:
		return "this connection has " + strconv.Itoa(len(p.mu.made)) + " requests pending"
	case !p.node && p.mu.bytes+size > t.cfg.MaxPendingBytesPerConn:
		return "this connection's pending requests would exceed " + strconv.Itoa(t.cfg.MaxPendingBytesPerConn) + " bytes"
	case t.live.Load() >= int64(t.cfg.MaxPending):
		return "the server has " + strconv.Itoa(t.cfg.MaxPending) + " requests pending"
	case t.liveBytes.Load()+int64(size) > int64(t.cfg.MaxPendingBytes):
		return "the server's pending requests would exceed " + strconv.Itoa(t.cfg.MaxPendingBytes) + " bytes"
	}
	return ""
}

// noProviderLocked ends r, for which no provider is left: a relay tells
// its requester (the owning node) to try another; otherwise the requester
// gets NoRpcProvider, or RpcProviderUnreachable when providers were there
// but on nodes that could not be reached.
func (t *Table) noProviderLocked(sh *requestShard, r *request, detail string) {
	switch {
	case r.target != nil:
		t.endLocked(sh, r)
		send(r.requester.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionReject, ID: r.reqID})
	case r.unreachable:
		t.failLocked(sh, r, protocol.CodeRpcProviderUnreachable, "")
	default:
		t.failLocked(sh, r, protocol.CodeNoRpcProvider, detail)
	}
}

// Accept records that p, the provider of request id, accepted it, and
// tells the requester. Accepting twice is harmless.
func (t *Table) Accept(p *Peer, id uint64) error {
	sh := &t.requests[id&(shard.Count-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.m[id]
	if r == nil || r.provider != p {
		return ErrUnknownRequest
	}
	if r.accepted {
		return nil
	}
	r.accepted = true
	sh.wheel.Schedule(&r.timer, r.sent.Add(r.responseTimeout))
	send(r.requester.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionAccept, ID: r.reqID})
	return nil
}

// Reject hands request id, which p declines, to a provider not yet tried,
// or fails it with NoRpcProvider when none is left.
func (t *Table) Reject(p *Peer, id uint64) error {
	now := t.cfg.Now()
	sh := &t.requests[id&(shard.Count-1)]
	sh.mu.Lock()
	r := sh.m[id]
	if r == nil || r.provider != p {
		sh.mu.Unlock()
		return ErrUnknownRequest
	}
	t.unassignLocked(r)
	if t.routeLocked(sh, r, now) {
		sh.mu.Unlock()
		return nil
	}
	t.noProviderLocked(sh, r, "every provider rejected it")
	sh.mu.Unlock()
	putRequest(r)
	return nil
}

// ProviderOf returns the provider request id is with now (nil when it is
// not pending or between providers). The cluster uses it to check that an
// answer from another node comes from the node the request is at.
func (t *Table) ProviderOf(id uint64) *Peer {
	sh := &t.requests[id&(shard.Count-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.m[id]; r != nil {
		return r.provider
	}
	return nil
}

// IsRemote reports whether p stands for a provider on another node.
func (p *Peer) IsRemote() bool { return p.remote }

// FailCode ends request id, whose provider must be p, with code and
// reason as another node's relay reported them (a response timeout there,
// the provider's own error, the provider gone after accepting).
func (t *Table) FailCode(p *Peer, id uint64, code protocol.Code, reason string) error {
	r, err := t.end(p, id)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = code.Message()
	}
	send(r.requester.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequestError, ID: r.reqID,
		Name: msg.UnsafeString(r.name), Code: uint16(code), Reason: reason})
	putRequest(r)
	return nil
}

// Respond relays p's response to request id to its requester.
func (t *Table) Respond(p *Peer, id uint64, data []byte) error {
	r, err := t.end(p, id)
	if err != nil {
		return err
	}
	send(r.requester.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionResponse, ID: r.reqID, Data: data})
	putRequest(r)
	return nil
}

// Fail relays p's error for request id to its requester as RequestError
// with code RpcProviderError and p's reason.
func (t *Table) Fail(p *Peer, id uint64, reason []byte) error {
	r, err := t.end(p, id)
	if err != nil {
		return err
	}
	text := string(reason)
	if text == "" {
		text = protocol.CodeRpcProviderError.Message()
	}
	send(r.requester.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequestError, ID: r.reqID,
		Name: msg.UnsafeString(r.name), Code: uint16(protocol.CodeRpcProviderError), Reason: text})
	putRequest(r)
	return nil
}

// end removes request id, whose provider must be p, and hands it over.
func (t *Table) end(p *Peer, id uint64) (*request, error) {
	sh := &t.requests[id&(shard.Count-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.m[id]
	if r == nil || r.provider != p {
		return nil, ErrUnknownRequest
	}
	t.endLocked(sh, r)
	return r, nil
}

// Close removes p from every provider list, drops the requests it made,
// and reroutes (or fails, once accepted) the requests sent to it.
func (t *Table) Close(p *Peer) {
	for name := range p.provides {
		t.removeProvider(name, p)
		if t.bus != nil && !p.remote {
			t.bus.Provided(p, name, false)
		}
	}
	p.provides = nil
	p.mu.Lock()
	p.mu.closed = true
	asked, made := p.mu.asked, p.mu.made
	p.mu.asked, p.mu.made = nil, nil
	p.mu.Unlock()

	for id := range made {
		sh := &t.requests[id&(shard.Count-1)]
		sh.mu.Lock()
		r := sh.m[id]
		if r == nil || r.requester != p {
			sh.mu.Unlock()
			continue
		}
		t.endLocked(sh, r)
		sh.mu.Unlock()
		putRequest(r)
	}
	now := t.cfg.Now()
	for id := range asked {
		sh := &t.requests[id&(shard.Count-1)]
		sh.mu.Lock()
		r := sh.m[id]
		if r == nil || r.provider != p {
			sh.mu.Unlock()
			continue
		}
		r.provider = nil // p's asked set is already gone
		if !r.accepted && t.routeLocked(sh, r, now) {
			sh.mu.Unlock()
			continue
		}
		if r.accepted {
			t.failLocked(sh, r, protocol.CodeNoRpcProvider, "the provider disconnected after accepting")
		} else {
			t.noProviderLocked(sh, r, "the provider disconnected")
		}
		sh.mu.Unlock()
		putRequest(r)
	}
}

// Run advances the deadlines every Tick until ctx ends. Run it on one
// goroutine.
func (t *Table) Run(ctx context.Context) {
	tk := time.NewTicker(t.cfg.Tick)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			t.Expire(t.cfg.Now())
		}
	}
}

// Expire acts on every deadline passed at now: accept timeouts reroute (or
// fail with RpcAcceptTimeout), response timeouts fail with
// RpcResponseTimeout. Run calls it; tests may call it directly.
func (t *Table) Expire(now time.Time) {
	if t.live.Load() == 0 {
		return
	}
	for i := range t.requests {
		sh := &t.requests[i]
		if sh.size.Load() == 0 {
			continue
		}
		sh.mu.Lock()
		sh.wheel.Advance(now, func(tm *timewheel.Timer[*request]) { t.expireLocked(sh, tm.Value, now) })
		sh.mu.Unlock()
	}
}

func (t *Table) expireLocked(sh *requestShard, r *request, now time.Time) {
	if r.accepted {
		if t.cfg.OnTimeout != nil {
			t.cfg.OnTimeout(false)
		}
		t.failLocked(sh, r, protocol.CodeRpcResponseTimeout, "after "+r.responseTimeout.String())
		putRequest(r)
		return
	}
	t.unassignLocked(r)
	if t.routeLocked(sh, r, now) {
		return
	}
	if r.target != nil || r.unreachable {
		t.noProviderLocked(sh, r, "")
		putRequest(r)
		return
	}
	if t.cfg.OnTimeout != nil {
		t.cfg.OnTimeout(true)
	}
	t.failLocked(sh, r, protocol.CodeRpcAcceptTimeout, "after "+r.acceptTimeout.String())
	putRequest(r)
}

// routeLocked sends r to a provider it has not tried, arming the accept
// deadline. It reports false when no provider is left.
func (t *Table) routeLocked(sh *requestShard, r *request, now time.Time) bool {
	for {
		p := t.choose(r)
		if p == nil {
			return false
		}
		r.tried = append(r.tried, p)
		p.mu.Lock()
		if p.mu.closed {
			p.mu.Unlock()
			continue
		}
		if p.mu.asked == nil {
			p.mu.asked = make(map[uint64]struct{})
		}
		p.mu.asked[r.id] = struct{}{}
		p.mu.Unlock()
		r.provider, r.accepted, r.sent = p, false, now
		sh.wheel.Schedule(&r.timer, now.Add(r.acceptTimeout))
		if err := p.conn.Send(r.frame); err != nil && p.remote {
			// The provider's node cannot be reached: move on now.
			r.unreachable = true
			t.unassignLocked(r)
			continue
		}
		// A failed send to a local provider means it is closing; its
		// Close reroutes r.
		return true
	}
}

// choose picks an untried provider of r's name: one on this node other
// than the requester, then one on another node, then the requester's own
// connection, so every provider is asked once before the request fails.
// A relay (RequestTo) asks its target only.
func (t *Table) choose(r *request) *Peer {
	if r.target != nil {
		if r.hasTried(r.target) {
			return nil
		}
		return r.target
	}
	sh := &t.providers[shard.Index(r.name)]
	sh.mu.RLock()
	ps := sh.names[string(r.name)]
	sh.mu.RUnlock()
	if ps == nil {
		return nil
	}
	list := ps.set.View()
	n := list.Len()
	if n == 0 {
		return nil
	}
	var start int
	if t.cfg.Selection == Random {
		start = rand.IntN(n)
	} else {
		start = int(ps.next.Add(1)-1) % n
	}
	var remote, self *Peer
	for i := 0; i < n; i++ {
		p, ok := list.At((start + i) % n)
		switch {
		case !ok, r.hasTried(p):
		case p == r.requester:
			self = p
		case p.remote:
			if remote == nil {
				remote = p
			}
		default:
			return p
		}
	}
	if remote != nil {
		return remote
	}
	return self
}

func (r *request) hasTried(p *Peer) bool {
	for _, x := range r.tried {
		if x == p {
			return true
		}
	}
	return false
}

// unassignLocked takes r away from its current provider.
func (t *Table) unassignLocked(r *request) {
	if p := r.provider; p != nil {
		p.mu.Lock()
		delete(p.mu.asked, r.id)
		p.mu.Unlock()
		r.provider = nil
	}
}

// endLocked removes every trace of r from the table; the caller owns r.
func (t *Table) endLocked(sh *requestShard, r *request) {
	delete(sh.m, r.id)
	sh.size.Add(-1)
	sh.wheel.Stop(&r.timer)
	t.live.Add(-1)
	t.liveBytes.Add(-int64(r.size))
	t.unassignLocked(r)
	q := r.requester
	q.mu.Lock()
	if _, ok := q.mu.made[r.id]; ok {
		delete(q.mu.made, r.id)
		q.mu.bytes -= r.size
	}
	q.mu.Unlock()
}

// failLocked ends r and tells the requester why.
func (t *Table) failLocked(sh *requestShard, r *request, code protocol.Code, detail string) {
	t.endLocked(sh, r)
	reason := "Rpc Request " + string(r.name) + ": " + code.Message()
	if detail != "" {
		reason += " (" + detail + ")"
	}
	send(r.requester.conn, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequestError, ID: r.reqID,
		Name: msg.UnsafeString(r.name), Code: uint16(code), Reason: reason})
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send encodes m into a pooled buffer and queues it on c.
func send(c Conn, m *msg.Msg) {
	bp := bufs.Get().(*[]byte)
	*bp = msg.Append((*bp)[:0], m)
	_ = c.Send(*bp)
	if cap(*bp) <= maxKeep {
		bufs.Put(bp)
	}
}

func millis(d time.Duration) uint32 {
	ms := d.Milliseconds()
	if ms > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(ms)
}

// Stats counts what the table holds, for tests and metrics. It takes every
// shard lock in turn, so it is not for hot paths.
type Stats struct {
	Names     int // names with at least one provider
	Providers int // (name, provider) pairs
	Requests  int // pending requests
	Timers    int // scheduled deadlines
}

// Stats returns the table's current counts.
func (t *Table) Stats() Stats {
	var s Stats
	for i := range t.providers {
		sh := &t.providers[i]
		sh.mu.RLock()
		s.Names += len(sh.names)
		for _, ps := range sh.names {
			s.Providers += ps.set.Len()
		}
		sh.mu.RUnlock()
	}
	for i := range t.requests {
		sh := &t.requests[i]
		sh.mu.Lock()
		s.Requests += len(sh.m)
		s.Timers += sh.wheel.Len()
		sh.mu.Unlock()
	}
	return s
}

// Pending returns the number of requests in flight (one atomic load).
func (t *Table) Pending() int { return int(t.live.Load()) }
