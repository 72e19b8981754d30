package session

import (
	"time"

	"github.com/eddy-realtime/eddy/engine/netloop"
)

// Options are the per-connection limits and timers. Zero means default.
type Options struct {
	// HandshakeTimeout bounds the time from connect to a successful login.
	// Default 10s.
	HandshakeTimeout time.Duration `yaml:"handshakeTimeout"`
	// Heartbeat is how often the server pings a client. Default 15s.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// HeartbeatTimeout closes a connection that sent nothing for this long.
	// Default 3 × Heartbeat.
	HeartbeatTimeout time.Duration `yaml:"heartbeatTimeout"`
	// MaxNameLength bounds record, event and rpc names in bytes. Default 512.
	MaxNameLength int `yaml:"maxNameLength"`
	// MaxSubscriptions bounds subscriptions per connection, over all topics.
	// Default 10000.
	MaxSubscriptions int `yaml:"maxSubscriptions"`
	// MaxListens bounds the listen patterns of one connection, events and
	// records together (they count as subscriptions too). Default 100.
	MaxListens int `yaml:"maxListens"`
	// MaxConnections bounds concurrent connections. Default 100000, or
	// fewer when the descriptor limit allows fewer sockets
	// (netloop.SocketBudget).
	MaxConnections int `yaml:"maxConnections"`
	// MaxMessageRate bounds inbound messages per second per connection;
	// excess messages get CodeRateLimited and are dropped. Default 1000000.
	MaxMessageRate int `yaml:"maxMessageRate"`
	// MaxAuthAttempts closes a connection after this many refused logins.
	// Default 3.
	MaxAuthAttempts int `yaml:"maxAuthAttempts"`
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 3 * o.Heartbeat
	}
	if o.MaxNameLength <= 0 {
		o.MaxNameLength = 512
	}
	if o.MaxSubscriptions <= 0 {
		o.MaxSubscriptions = 10000
	}
	if o.MaxListens <= 0 {
		o.MaxListens = 100
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = min(100000, netloop.SocketBudget())
	}
	if o.MaxMessageRate <= 0 {
		o.MaxMessageRate = 1000000
	}
	if o.MaxAuthAttempts <= 0 {
		o.MaxAuthAttempts = 3
	}
}
