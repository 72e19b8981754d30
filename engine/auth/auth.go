package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// The sentinels every strategy error wraps. Test with errors.Is.
var (
	// ErrUnknownUser means the strategy does not know the user; a Chain then
	// asks the next strategy.
	ErrUnknownUser = errors.New("auth: unknown user")
	// ErrInvalidCredentials means the strategy knows the user (or the auth data
	// is malformed) and refuses; a Chain stops there.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrUnavailable means the backend could not answer (webhook down, timed
	// out, or the login's context ended while waiting); a Chain stops there.
	ErrUnavailable = errors.New("auth: backend unavailable")
	// ErrExpired is wrapped together with ErrInvalidCredentials when the
	// credentials were valid once but have expired (a JWT past its exp), so
	// the client can be told to refresh them.
	ErrExpired = errors.New("auth: credentials expired")
)

// Request is one login attempt. Strategies only read it.
type Request struct {
	// Data is the client's auth data: JSON, usually an object; empty or
	// "null" when the client sent none.
	Data []byte
	// RemoteAddr is the peer's address, "ip:port".
	RemoteAddr string
	// Header holds the headers of the WebSocket upgrade request; nil for raw
	// TCP clients.
	Header http.Header
}

// Result is an accepted login.
type Result struct {
	// ID is the user id; "" is the anonymous user.
	ID string
	// ClientData is sent back to the client in LoginResult; nil for none.
	ClientData json.RawMessage
	// ServerData is what permission rules see as user.data; nil for none.
	ServerData json.RawMessage
	// ExpiresAt is when the session must end (a JWT's exp); zero means never.
	ExpiresAt time.Time
}

// Strategy is one way of authenticating. Authenticate must be safe for
// concurrent use and return either a Result or an error wrapping exactly one
// of ErrUnknownUser, ErrInvalidCredentials or ErrUnavailable.
type Strategy interface {
	// Name is the strategy's type, such as "file" or "jwt".
	Name() string
	// Authenticate decides about one login.
	Authenticate(ctx context.Context, req *Request) (Result, error)
}

// Chain tries its strategies in order; the first that knows the user decides.
// A Chain is immutable and safe for concurrent use.
type Chain struct {
	strategies []Strategy
}

// errNobody is returned when every strategy answered ErrUnknownUser.
var errNobody = fmt.Errorf("auth: no strategy knows the user: %w", ErrUnknownUser)

// emptyRequest stands in for a nil *Request.
var emptyRequest Request

// NewChain returns a Chain over the given strategies, tried in that order. It
// lets callers add strategies of their own; New builds one from a Config.
func NewChain(strategies ...Strategy) *Chain {
	return &Chain{strategies: append([]Strategy(nil), strategies...)}
}

// Authenticate asks each strategy in turn. The first Result wins. An error
// wrapping ErrUnknownUser moves on to the next strategy; any other error is
// returned at once. When no strategy knows the user the error wraps
// ErrUnknownUser. Safe for concurrent use; may block (see the package doc).
func (c *Chain) Authenticate(ctx context.Context, req *Request) (Result, error) {
	if req == nil {
		req = &emptyRequest
	}
	for _, s := range c.strategies {
		res, err := s.Authenticate(ctx, req)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, ErrUnknownUser) {
			return Result{}, err
		}
	}
	return Result{}, errNobody
}

// Names returns the types of the chain's strategies in order, for logs.
func (c *Chain) Names() []string {
	names := make([]string, len(c.strategies))
	for i, s := range c.strategies {
		names[i] = s.Name()
	}
	return names
}

// Option changes how New builds a Chain.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger sets the logger that reports users-file reloads and reload
// failures. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
