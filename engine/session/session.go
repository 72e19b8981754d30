package session

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/internal/shard"
	"github.com/eddy-realtime/eddy/engine/listen"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/presence"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/engine/rpc"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/valve"
)

// LoginRequest is what an Authenticator sees of a login.
type LoginRequest struct {
	Data       []byte      // the client's auth data (JSON; may be empty)
	RemoteAddr string      // peer "ip:port"
	Header     http.Header // WebSocket upgrade header; nil for TCP
}

// Identity is a successful login.
type Identity struct {
	User       string    // "" for anonymous
	ClientData []byte    // JSON returned to the client
	ServerData []byte    // JSON seen by permission rules
	ExpiresAt  time.Time // zero: never
}

// LoginError refuses a login with a catalogue code. Authenticators return it
// (or any error, which counts as CodeInvalidCredentials).
type LoginError struct {
	Code   protocol.Code
	Reason string
}

func (e *LoginError) Error() string { return "session: login refused: " + e.Reason }

// Authenticator checks logins. Implementations must be safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, req *LoginRequest) (Identity, error)
	// Blocking reports whether Authenticate may block (files, network); such
	// logins run off the event loop.
	Blocking() bool
}

// Metrics receives counts from sessions; all methods must be cheap and safe
// from any goroutine. A nil Metrics in Config is replaced by a no-op.
type Metrics interface {
	Connection(kind netloop.Kind, open bool)
	MessageIn(topic fb.Topic, action fb.Action)
	Deliveries(topic fb.Topic, n int)
	Login(ok bool)
	Denied(topic fb.Topic, action fb.Action)
}

type noMetrics struct{}

func (noMetrics) Connection(netloop.Kind, bool) {}
func (noMetrics) MessageIn(fb.Topic, fb.Action) {}
func (noMetrics) Deliveries(fb.Topic, int)      {}
func (noMetrics) Login(bool)                    {}
func (noMetrics) Denied(fb.Topic, fb.Action)    {}

// Config wires a Manager.
type Config struct {
	Options Options
	Auth    Authenticator
	Events  *event.Table
	Records *record.Table
	// Permissions returns the rules in force (they may be reloaded at any
	// time); nil allows everything.
	Permissions func() Authorizer
	// Reader serves rules that read other records; it may block.
	Reader  valve.RecordReader
	Logger  *slog.Logger
	Metrics Metrics
	// RPC, Presence and EventListen serve their topics; nil answers
	// UnknownAction.
	RPC         *rpc.Table
	Presence    *presence.Table
	EventListen *listen.Registry
	// RecordListen serves record listening; nil answers UnknownAction.
	RecordListen *listen.Registry

	// Go runs f on a new goroutine owned by the server; it returns false
	// once the server is shutting down.
	Go func(name string, f func()) bool
	// Release is the server's release string sent in HandshakeAck.
	Release string
}

// Manager owns all sessions; it implements netloop.Handler.
type Manager struct {
	cfg   Config
	opts  Options
	log   *slog.Logger
	count atomic.Int64
	seq   atomic.Uint64
	all   [shard.Count]sessionShard
	ack   []byte // the HandshakeAck payload, the same for everyone

	// slowLog keeps slow-consumer warnings to one a second.
	slowLog struct {
		sync.Mutex
		last       time.Time
		suppressed int
	}
}

type sessionShard struct {
	mu sync.Mutex
	m  map[*Session]struct{}
}

var _ netloop.Handler = (*Manager)(nil)

// NewManager returns a Manager; call Run to start its sweeper.
func NewManager(cfg Config) *Manager {
	cfg.Options.EnsureDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.Go == nil {
		cfg.Go = func(_ string, f func()) bool { go f(); return true }
	}
	m := &Manager{cfg: cfg, opts: cfg.Options, log: cfg.Logger}
	for i := range m.all {
		m.all[i].m = make(map[*Session]struct{})
	}
	info := `{"server":"eddy","release":"` + cfg.Release + `","heartbeatMs":` + itoa(m.opts.Heartbeat.Milliseconds()) + `}`
	m.ack = msg.Append(nil, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version, Data: []byte(info)})
	return m
}

// Count returns the number of open connections.
func (m *Manager) Count() int { return int(m.count.Load()) }

// Session is one connection's state. Its methods run on the connection's
// loop goroutine unless documented otherwise.
type Session struct {
	m   *Manager
	c   *netloop.Conn
	seq uint64 // immutable; picks the session's shard in Manager.all

	// Touched by the sweeper as well as the loop.
	state     atomic.Uint32
	active    atomic.Bool  // a message arrived since the sweeper last looked
	expiresAt atomic.Int64 // unix nanoseconds; 0 = never
	openedAt  time.Time    // immutable after OnOpen

	// Sweeper-only.
	lastActive time.Time
	lastPing   time.Time

	// Loop-only.
	id             Identity
	failedLogins   int
	subscriptions  int // over all topics, for MaxSubscriptions
	events         map[string]struct{}
	rpcPeer        *rpc.Peer
	presencePeer   *presence.Peer
	eventListener  *listen.Peer
	recordListener *listen.Peer
	listens        int // listen patterns, both topics
	// records are the records this connection reads (subscribed), each
	// true when a versioned write of it was refused (VersionExists,
	// InvalidVersion) and it has not read the record since: its later
	// versioned writes there were computed before it knew, so they are
	// refused too unless flagged Rebased.
	records    map[string]bool
	recq       [][]byte // record messages waiting for a record load, in arrival order
	recqMissed []string // set while draining when the front message misses again
	draining   bool     // recq is being run
	rateWindow int64    // unix second of the current rate window
	rateCount  int
	vuser      valve.User    // the identity permission rules see
	vreq       valve.Request // reused for every check
	approved   approval      // granted off the loop for the message being replayed
	replaying  bool          // OnMessage is running a replayed message
	view       msg.View
	scratch    []byte
	out        msg.Msg
}

const (
	stateHandshake uint32 = iota
	stateLogin
	stateAuthenticating
	stateOpen
)

// Deliver implements event.Subscriber: it queues payload on the connection.
// Safe from any goroutine.
func (s *Session) Deliver(payload []byte) { _ = s.c.Send(payload) }

// User returns the logged-in user id ("" for anonymous).
func (s *Session) User() string { return s.id.User }

// OnOpen implements netloop.Handler.
func (m *Manager) OnOpen(c *netloop.Conn) error {
	if int(m.count.Add(1)) > m.opts.MaxConnections {
		m.count.Add(-1)
		return &netloop.CloseError{Code: protocol.CodeTooManyConnections, Reason: "the server has reached its connection limit"}
	}
	s := &Session{m: m, c: c, openedAt: time.Now(), seq: m.seq.Add(1)}
	s.lastActive = s.openedAt
	s.lastPing = s.openedAt
	c.SetContext(s)
	sh := &m.all[shardOf(s)]
	sh.mu.Lock()
	sh.m[s] = struct{}{}
	sh.mu.Unlock()
	m.cfg.Metrics.Connection(c.Kind(), true)
	return nil
}

// OnClose implements netloop.Handler: it removes every trace of the session.
func (m *Manager) OnClose(c *netloop.Conn, _ error) {
	s, ok := c.Context().(*Session)
	if !ok {
		return
	}
	if c.CloseCode() == protocol.CodeSlowConsumer {
		m.warnSlowConsumer(c, s)
	}
	for name := range s.events {
		if _, last := m.cfg.Events.Unsubscribe(name, s); last {
			m.eventUnsubscribed(name)
		}
	}
	s.events = nil
	s.closeRPC()
	s.closePresence()
	s.closeListen()
	for name := range s.records {
		if m.cfg.Records.Unsubscribe(name, s) {
			m.recordUnsubscribed(name)
		}
	}
	s.records = nil
	sh := &m.all[shardOf(s)]
	sh.mu.Lock()
	delete(sh.m, s)
	sh.mu.Unlock()
	m.count.Add(-1)
	m.cfg.Metrics.Connection(c.Kind(), false)
}

func shardOf(s *Session) int { return int(s.seq & (shard.Count - 1)) }

// Shutdown closes every connection with CodeServerShutdown.
func (m *Manager) Shutdown() {
	m.each(func(s *Session) { s.c.CloseWith(protocol.CodeServerShutdown, "the server is shutting down") })
}

func (m *Manager) each(fn func(*Session)) {
	var batch []*Session
	for i := range m.all {
		sh := &m.all[i]
		sh.mu.Lock()
		for s := range sh.m {
			batch = append(batch, s)
		}
		sh.mu.Unlock()
		for _, s := range batch {
			fn(s)
		}
		batch = batch[:0]
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// warnSlowConsumer logs a connection cut off because its outbound queue
// passed net.maxQueue: at most one line a second, counting the others.
func (m *Manager) warnSlowConsumer(c *netloop.Conn, s *Session) {
	now := time.Now()
	m.slowLog.Lock()
	if now.Sub(m.slowLog.last) < time.Second {
		m.slowLog.suppressed++
		m.slowLog.Unlock()
		return
	}
	more := m.slowLog.suppressed
	m.slowLog.last, m.slowLog.suppressed = now, 0
	m.slowLog.Unlock()
	m.log.Warn("slow consumer disconnected: its outbound queue passed net.maxQueue",
		"remote", c.RemoteAddr().String(), "user", s.vuser.ID, "others_since_last_warning", more)
}
