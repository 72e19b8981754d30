package eddy

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"
)

// Defaults of the options below.
const (
	DefaultReconnectMin   = 100 * time.Millisecond
	DefaultReconnectMax   = 10 * time.Second
	DefaultDialTimeout    = 10 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	// DefaultHeartbeat is the ping interval when neither WithHeartbeat nor
	// the server's HandshakeAck names one.
	DefaultHeartbeat = 20 * time.Second
	// DefaultMaxFrame matches the server's default net.maxFrame.
	DefaultMaxFrame = 1 << 20
	// DefaultPendingLimit bounds the bytes of events waiting for callbacks.
	DefaultPendingLimit = 64 << 20
	// closeTimeout bounds how long Close waits to flush and say goodbye.
	closeTimeout = 2 * time.Second
)

// Option configures Dial.
type Option func(*options)

type options struct {
	auth           any
	hasAuth        bool
	authFunc       func(context.Context) (map[string]any, error)
	logger         *slog.Logger
	reconnect      bool
	reconnectMin   time.Duration
	reconnectMax   time.Duration
	onState        func(ConnectionState)
	onError        func(error)
	heartbeat      time.Duration
	dialTimeout    time.Duration
	requestTimeout time.Duration
	maxFrame       int
	pendingLimit   int
	tls            *tls.Config
	compression    bool
	recordMerge    MergeStrategy
}

func defaultOptions() options {
	return options{
		logger:         slog.New(slog.DiscardHandler),
		reconnect:      true,
		reconnectMin:   DefaultReconnectMin,
		reconnectMax:   DefaultReconnectMax,
		dialTimeout:    DefaultDialTimeout,
		requestTimeout: DefaultRequestTimeout,
		maxFrame:       DefaultMaxFrame,
		pendingLimit:   DefaultPendingLimit,
	}
}

// WithAuth sets the login data: any value encoding/json can marshal (a
// map, a struct, a json.RawMessage). It is sent on every (re)connect.
// Without it (or WithAuthFunc) the client logs in anonymously (a Login with
// no data).
func WithAuth(data any) Option {
	return func(o *options) { o.auth, o.hasAuth, o.authFunc = data, true, nil }
}

// WithAuthFunc sets a function that returns the login data, asked before
// every login: the first in Dial and one after each reconnect, with a
// context bounded by the dial timeout. Use it for credentials that expire,
// such as a JWT: return a fresh token each time. An error from fn fails
// Dial, or the reconnect attempt (the client tries again with backoff).
//
// With WithAuthFunc a connection the server closes with TokenExpired is
// reconnected (and fn asked again) rather than ending the client, and a
// login refused with TokenExpired on a reconnect is tried again the same
// way; other refusals stop the client in AuthFailed. The last of WithAuth
// and WithAuthFunc given wins.
func WithAuthFunc(fn func(ctx context.Context) (map[string]any, error)) Option {
	return func(o *options) { o.authFunc, o.auth, o.hasAuth = fn, nil, false }
}

// WithLogger sets the logger for connection events (state changes at Info,
// server errors at Warn, details at Debug). Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithReconnect sets the reconnect backoff: the first delay is about minDelay,
// doubling per failed attempt up to maxDelay, each jittered to between half and
// all of its value. Defaults: DefaultReconnectMin, DefaultReconnectMax.
func WithReconnect(minDelay, maxDelay time.Duration) Option {
	return func(o *options) {
		o.reconnect = true
		if minDelay > 0 {
			o.reconnectMin = minDelay
		}
		if maxDelay > 0 {
			o.reconnectMax = maxDelay
		}
	}
}

// WithoutReconnect makes a lost connection final: the client goes Closed.
func WithoutReconnect() Option {
	return func(o *options) { o.reconnect = false }
}

// WithConnectionStateHandler registers fn to hear every state change, in
// order, on the client's callback goroutine (see the package doc).
func WithConnectionStateHandler(fn func(ConnectionState)) Option {
	return func(o *options) { o.onState = fn }
}

// WithErrorHandler registers fn for errors no call is waiting for: server
// errors for fire-and-forget messages (an Emit refused by permissions),
// refused re-subscriptions, the cause of each lost connection, and
// ErrSlowConsumer. fn runs on the callback goroutine.
func WithErrorHandler(fn func(error)) Option {
	return func(o *options) { o.onError = fn }
}

// WithHeartbeat sets the client's ping interval; a Ping unanswered for two
// intervals drops the connection. Zero (the default) takes the interval the
// server announces in its HandshakeAck (heartbeatMs), or DefaultHeartbeat;
// a negative value sends no pings (the client still answers the server's).
func WithHeartbeat(d time.Duration) Option {
	return func(o *options) { o.heartbeat = d }
}

// WithDialTimeout bounds one connection attempt: connect, handshake and
// login. Default DefaultDialTimeout.
func WithDialTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.dialTimeout = d
		}
	}
}

// WithRequestTimeout sets how long the context-less calls (Subscribe,
// Unsubscribe) wait for the server. Default DefaultRequestTimeout.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.requestTimeout = d
		}
	}
}

// WithMaxFrame sets the largest message the client sends or accepts; set it
// to the server's net.maxFrame. Default DefaultMaxFrame.
func WithMaxFrame(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxFrame = n
		}
	}
}

// WithPendingLimit bounds the bytes of received events waiting for their
// callbacks. Beyond it, new events are dropped and ErrSlowConsumer goes to
// the error handler (once per episode). Default DefaultPendingLimit.
func WithPendingLimit(bytes int) Option {
	return func(o *options) {
		if bytes > 0 {
			o.pendingLimit = bytes
		}
	}
}

// WithTLSConfig sets the TLS configuration for tls:// and wss:// addresses.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// WithCompression offers permessage-deflate on WebSocket connections.
func WithCompression() Option {
	return func(o *options) { o.compression = true }
}
