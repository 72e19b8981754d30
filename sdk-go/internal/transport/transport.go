// Package transport carries whole Eddy protocol messages over raw TCP (with
// codec/frame length prefixes, optionally inside TLS) or WebSocket (one
// binary message per protocol message, via github.com/coder/websocket).
//
// Both transports take outbound messages as one buffer of TCP-framed
// messages, so the caller's write queue has a single format: raw TCP writes
// the buffer with one write call, WebSocket sends each framed payload as its
// own binary message.
//
// Concurrency: one goroutine may call ReadMessage while another calls
// WriteFrames; Close and Shutdown may be called from any goroutine, any
// number of times, and unblock both.
//
// Invariants:
//  1. ReadMessage never returns a payload longer than Options.MaxFrame.
//  2. The payload ReadMessage returns stays valid until the next call.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// DefaultMaxFrame is the payload limit when Options.MaxFrame is zero (the
// server's default net.maxFrame).
const DefaultMaxFrame = 1 << 20

// DefaultTCPPort is used when a tcp:// or tls:// address names no port.
const DefaultTCPPort = "6021"

// ErrBadAddress is wrapped by every address parsing error.
var ErrBadAddress = errors.New("transport: bad address")

// ErrTooLarge is wrapped when the peer sends a message over the limit.
var ErrTooLarge = errors.New("transport: message too large")

// ErrHTTPAnswer is wrapped when a raw TCP peer answers with HTTP: the
// address is a WebSocket (or other HTTP) port, not an Eddy TCP port.
var ErrHTTPAnswer = errors.New("transport: the peer answered with HTTP")

// ErrNotHTTP is wrapped when a WebSocket dial reaches a peer whose answer
// is not HTTP (an Eddy TCP port, for one).
var ErrNotHTTP = errors.New("transport: the peer did not answer with HTTP")

// ErrNoUpgrade is wrapped when the dial context ends before a WebSocket
// peer answered the upgrade request.
var ErrNoUpgrade = errors.New("transport: no answer to the WebSocket upgrade")

// Transport is one open connection carrying protocol messages.
type Transport interface {
	// ReadMessage blocks for the next message payload. The payload aliases
	// an internal buffer and is valid until the next call.
	ReadMessage() ([]byte, error)
	// WriteFrames sends every frame in b (codec/frame format; b holds only
	// whole frames).
	WriteFrames(b []byte) error
	// Shutdown ends the connection politely (a WebSocket close handshake),
	// waiting at most timeout before closing it hard.
	Shutdown(timeout time.Duration) error
	// Close ends the connection at once.
	Close() error
}

// Options configure Dial.
type Options struct {
	// MaxFrame is the largest inbound payload accepted; default DefaultMaxFrame.
	MaxFrame int
	// TLS configures tls:// and wss:// connections; nil means the system
	// defaults with the host name taken from the address.
	TLS *tls.Config
	// Compression offers permessage-deflate on WebSocket connections.
	Compression bool
}

func (o *Options) maxFrame() int {
	if o.MaxFrame <= 0 {
		return DefaultMaxFrame
	}
	return o.MaxFrame
}

// Dial opens a transport to addr: tcp://host[:port], tls://host[:port],
// ws://host[:port]/path or wss://host[:port]/path; an address without a
// scheme (host:port) is raw TCP. ctx bounds the connect (and the WebSocket
// upgrade) only.
func Dial(ctx context.Context, addr string, o Options) (Transport, error) {
	u, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "tcp", "tls":
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), DefaultTCPPort)
		}
		return dialTCP(ctx, host, u.Scheme == "tls", o)
	default:
		return dialWS(ctx, u, o)
	}
}

// ParseAddr parses a Dial address; one without "://" is tcp://addr.
func ParseAddr(addr string) (*url.URL, error) {
	raw := addr
	if !strings.Contains(addr, "://") {
		raw = "tcp://" + addr
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadAddress, addr, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrBadAddress, addr)
	}
	switch u.Scheme {
	case "tcp", "tls", "ws", "wss":
		return u, nil
	}
	return nil, fmt.Errorf("%w: %q: scheme must be tcp, tls, ws or wss", ErrBadAddress, addr)
}
