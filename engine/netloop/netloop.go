package netloop

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-realtime/eddy/protocol"
)

// Kind is the framing a listener speaks.
type Kind uint8

const (
	// TCP is Eddy's raw framing: uint32 little-endian length + payload.
	TCP Kind = iota
	// WebSocket is RFC 6455; one binary message per payload.
	WebSocket
	// HTTP is a virtual connection owned by one HTTP request (engine/httpapi):
	// framed like TCP, with the request's goroutine as its loop.
	HTTP
)

func (k Kind) String() string {
	switch k {
	case WebSocket:
		return "ws"
	case HTTP:
		return "http"
	}
	return "tcp"
}

// Handler receives connection events. Every method runs on the
// connection's loop goroutine and must not block.
type Handler interface {
	// OnOpen is called when c can carry messages: at accept for TCP, after
	// the upgrade for WebSocket. A non-nil error closes c with that reason.
	OnOpen(c *Conn) error
	// OnMessage is called for every inbound message. payload aliases the
	// loop's read buffer and is valid only until OnMessage returns.
	OnMessage(c *Conn, payload []byte)
	// OnClose is called once when c is gone; err says why (nil: closed by us or cleanly by the peer).
	OnClose(c *Conn, err error)
}

// Transport is what a back-end provides for one connection.
type Transport interface {
	// Write writes b or queues what the socket does not take now; it may be
	// called only on the loop goroutine and must not keep b.
	Write(b []byte) error
	// Buffered reports bytes accepted by Write but not yet on the wire (loop only).
	Buffered() int
	// Wake makes the back-end call Conn.Flush on the loop goroutine soon.
	// Safe from any goroutine; several wakes may coalesce into one flush.
	Wake()
	// Close closes the socket after pending writes, from any goroutine; the
	// back-end then calls Conn.Closed on the loop.
	Close()
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
}

// Unsent is implemented by transports that can tell how many written bytes
// the kernel still holds for the peer (SocketUnsent). Conn adds them to
// what a permessage-deflate connection is behind by: a kernel buffer of
// compressed bytes can hold far more messages than its size says.
type Unsent interface {
	Unsent() int
}

// SlowPolicy says what happens when a connection's outbound queue is full.
type SlowPolicy uint8

const (
	// Disconnect closes a slow consumer with CodeSlowConsumer (default).
	Disconnect SlowPolicy = iota
	// Drop discards messages that do not fit and counts them.
	Drop
)

// Options configure every connection of a server. Zero values mean the
// documented defaults (see EnsureDefaults).
type Options struct {
	// MaxFrame is the largest inbound message payload in bytes. Default 1 MiB.
	MaxFrame int
	// MaxQueue is the outbound queue cap per connection in bytes. Default 8 MiB.
	MaxQueue int
	// SlowPolicy applies when MaxQueue is reached. Default Disconnect.
	SlowPolicy SlowPolicy
	// MaxHeader bounds a WebSocket upgrade request. Default 16 KiB.
	MaxHeader int
	// CompressMin is the smallest outbound payload compressed on
	// connections that negotiated permessage-deflate. Default 512 bytes;
	// negative disables outbound compression.
	CompressMin int
	// DisableDeflate turns off permessage-deflate negotiation (on by default).
	DisableDeflate bool
	// MaxSockets bounds the sockets held at once, counted from accept: TCP,
	// WebSocket (before its upgrade too) and HTTP connections taken through
	// Server.Listen. Past it a socket is refused at once: TCP with an Eddy
	// Close (CodeTooManyConnections), WebSocket and HTTP with a 503.
	// Default SocketBudget(), derived from the descriptor limit.
	MaxSockets int
	// UpgradeTimeout bounds the time from accept to a WebSocket's upgrade
	// request; past it the socket gets a 408 and is closed. Default 10s.
	UpgradeTimeout time.Duration
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.MaxFrame <= 0 {
		o.MaxFrame = 1 << 20
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 8 << 20
	}
	if o.MaxHeader <= 0 {
		o.MaxHeader = 16 << 10
	}
	if o.CompressMin == 0 {
		o.CompressMin = 512
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
}

// Listener is one address a server accepts connections on.
type Listener struct {
	Kind Kind
	Addr string // host:port; port 0 picks a free one
}

// Engine is a running back-end.
type Engine interface {
	// Addrs returns the bound address of each listener, in order.
	Addrs() []net.Addr
	// Stop stops accepting, closes every connection and returns when the
	// loops have exited or ctx is done.
	Stop(ctx context.Context) error
	// Err is nil while every listener accepts connections (a listener
	// backing off after an accept error still counts as accepting), else
	// the first one that stopped and why.
	Err() error
}

// Stats are counters shared by all connections of a server. Every method
// must be cheap and safe from any goroutine.
type Stats interface {
	// SlowConsumer is called when a connection is closed or a message
	// dropped because the outbound queue was full.
	SlowConsumer(dropped bool)
	// Received is called once per Feed with the inbound bytes consumed.
	Received(bytes int)
	// Flushed is called once per Flush that wrote something, with the
	// number of messages queued by Send since the last flush and the bytes
	// written (framing included).
	Flushed(messages, bytes int)
	// Socket is called when a socket is accepted (open) and when it is gone.
	Socket(open bool)
	// SocketRefused is called for a socket refused because MaxSockets were open.
	SocketRefused()
	// AcceptError is called when accepting failed and the listener backs off.
	AcceptError()
	// UpgradeTimeout is called for a WebSocket closed because its upgrade
	// request did not arrive within Options.UpgradeTimeout.
	UpgradeTimeout()
}

// Server bundles what a back-end needs to run.
type Server struct {
	Handler   Handler
	Options   Options
	Listeners []Listener
	Stats     Stats

	sockets    atomic.Int64 // sockets held (see admit)
	budget     int64        // SocketBudget, computed once
	budgetOnce sync.Once
	down       atomic.Pointer[ListenerError]

	// pend defers the wake-ups that fan-out causes while some connection is
	// being fed: a subscriber is woken once, when the read batch that
	// delivered to it ends, rather than at its first message, so it flushes
	// everything the batch queued with one write.
	pend struct {
		sync.Mutex
		feeding int     // Feed calls in progress, on any loop
		list    []*Conn // woken by the next Feed to end
		spare   []*Conn
	}
}

// wakeSoon wakes c's loop, or leaves it to the end of the Feed in progress.
func (s *Server) wakeSoon(c *Conn) {
	s.pend.Lock()
	if s.pend.feeding > 0 {
		s.pend.list = append(s.pend.list, c)
		s.pend.Unlock()
		return
	}
	s.pend.Unlock()
	c.t.Wake()
}

func (s *Server) beginFeed() {
	s.pend.Lock()
	s.pend.feeding++
	s.pend.Unlock()
}

// endFeed wakes every connection deferred so far. Whichever Feed ends
// first wakes them; a Send that saw a Feed in progress is always followed
// by that Feed's end.
func (s *Server) endFeed() {
	s.pend.Lock()
	s.pend.feeding--
	list := s.pend.list
	s.pend.list = s.pend.spare[:0]
	s.pend.spare = nil
	s.pend.Unlock()
	for i, c := range list {
		c.t.Wake()
		list[i] = nil
	}
	s.pend.Lock()
	if s.pend.spare == nil {
		s.pend.spare = list[:0]
	}
	s.pend.Unlock()
}

// CloseError is returned by Handler.OnOpen to refuse a connection with a
// catalogue code.
type CloseError struct {
	Code   protocol.Code
	Reason string
}

func (e *CloseError) Error() string { return "netloop: " + e.Reason }
