package eddy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
	"github.com/eddy-realtime/eddy/sdk-go/internal/transport"
)

// Errors the client produces itself.
var (
	// ErrNotConnected is returned by calls that need the server (Emit,
	// EmitAck) while the client is reconnecting. Nothing was sent.
	ErrNotConnected = errors.New("eddy: not connected")
	// ErrClosed is returned once the client has been closed or has stopped
	// for good (see ConnectionState).
	ErrClosed = errors.New("eddy: client closed")
	// ErrConnectionLost wraps the cause reported when a live connection
	// drops (heartbeat timeout, network error, server close).
	ErrConnectionLost = errors.New("eddy: connection lost")
	// ErrHeartbeatTimeout is the cause of a connection dropped because a
	// Ping stayed unanswered for two heartbeat intervals.
	ErrHeartbeatTimeout = errors.New("eddy: no pong in time")
	// ErrSlowConsumer is reported to the error handler when callbacks fall
	// so far behind that incoming events are dropped (see WithPendingLimit).
	ErrSlowConsumer = errors.New("eddy: callbacks too slow, events dropped")
	// ErrProtocol is wrapped when the server sends something the protocol
	// does not allow.
	ErrProtocol = errors.New("eddy: protocol violation")
	// ErrBadAddress is wrapped by Dial for an address it cannot parse.
	ErrBadAddress = errors.New("eddy: bad address")
	// ErrNotEddy is wrapped by Dial (and reported on reconnects) when the
	// address does not answer as an Eddy server: a tcp:// address that
	// answers with HTTP or with bytes that are not an Eddy message, or does
	// not answer the handshake within the dial timeout; a ws:// address
	// that does not answer with HTTP. The error says which.
	ErrNotEddy = errors.New("eddy: not an Eddy server")
)

// Sentinels matched by errors.Is against an *Error with a related code.
var (
	// ErrAuthFailed matches any refused login, and the codes
	// InvalidCredentials, TooManyAuthAttempts and TokenExpired.
	ErrAuthFailed = errors.New("eddy: authentication failed")
	// ErrTokenExpired matches TokenExpired: a login refused because the
	// credentials (a JWT past its exp) have expired, or a connection the
	// server closed when they did. Fetch new credentials; WithAuthFunc does
	// it on every reconnect.
	ErrTokenExpired = errors.New("eddy: credentials expired")
	// ErrNotAuthenticated matches NotAuthenticated.
	ErrNotAuthenticated = errors.New("eddy: not authenticated")
	// ErrPermissionDenied matches PermissionDenied and PermissionError.
	ErrPermissionDenied = errors.New("eddy: permission denied")
	// ErrNotSubscribed matches NotSubscribed.
	ErrNotSubscribed = errors.New("eddy: not subscribed")
	// ErrUnsupportedVersion matches UnsupportedVersion (the server speaks
	// another protocol version).
	ErrUnsupportedVersion = errors.New("eddy: unsupported protocol version")
	// ErrInvalidName matches InvalidName and NameTooLong.
	ErrInvalidName = errors.New("eddy: invalid name")
	// ErrInvalidData matches InvalidData (data is not JSON).
	ErrInvalidData = errors.New("eddy: invalid data")
	// ErrTooManySubscriptions matches TooManySubscriptions.
	ErrTooManySubscriptions = errors.New("eddy: too many subscriptions")
	// ErrRateLimited matches RateLimited.
	ErrRateLimited = errors.New("eddy: rate limited")
	// ErrTooLarge matches MessageTooLarge; the client also returns it for a
	// message it will not send because it exceeds WithMaxFrame.
	ErrTooLarge = errors.New("eddy: message too large")
)

var sentinels = map[protocol.Code]error{
	protocol.CodeInvalidCredentials:   ErrAuthFailed,
	protocol.CodeTooManyAuthAttempts:  ErrAuthFailed,
	protocol.CodeTokenExpired:         ErrAuthFailed,
	protocol.CodeNotAuthenticated:     ErrNotAuthenticated,
	protocol.CodePermissionDenied:     ErrPermissionDenied,
	protocol.CodePermissionError:      ErrPermissionDenied,
	protocol.CodeNotSubscribed:        ErrNotSubscribed,
	protocol.CodeUnsupportedVersion:   ErrUnsupportedVersion,
	protocol.CodeInvalidName:          ErrInvalidName,
	protocol.CodeNameTooLong:          ErrInvalidName,
	protocol.CodeInvalidData:          ErrInvalidData,
	protocol.CodeTooManySubscriptions: ErrTooManySubscriptions,
	protocol.CodeRateLimited:          ErrRateLimited,
	protocol.CodeMessageTooLarge:      ErrTooLarge,
}

// Error is a failure carrying a protocol error code: a refusal from the
// server, a close it sent, or a request the client refused to send for a
// reason the catalogue names (an invalid name, an oversized message).
//
// errors.Is(err, target) holds when target is the sentinel for Code (see
// ErrPermissionDenied and friends) or an *Error with the same Code.
type Error struct {
	// Code is the catalogue code.
	Code protocol.Code
	// Reason is the server's text (or the client's); may be empty.
	Reason string
	// Op is what failed: "login", "handshake", "close", "subscribe",
	// "resubscribe", "unsubscribe", "emit" or "server" (unsolicited).
	Op string
	// Name is the event (record, rpc) name the failure concerns, if any.
	Name string
}

func (e *Error) Error() string {
	s := "eddy: " + e.Op
	if e.Name != "" {
		s += fmt.Sprintf(" %q", e.Name)
	}
	s += ": " + e.Code.String()
	if r := e.text(); r != "" {
		return s + ": " + r
	}
	return s + " (" + e.Code.Message() + ")"
}

// text is Reason without what the rest of Error's text already says. The
// server's reasons begin with "<Topic> <Action> <name>: " (docs/protocol.md)
// for logs of raw connections; Op and Name say that here. A parse error's
// "jsonpath: " package prefix goes too.
func (e *Error) text() string {
	r := e.Reason
	if f := strings.SplitN(r, " ", 3); len(f) >= 2 && topicNames[f[0]] {
		switch {
		case strings.HasSuffix(f[1], ":") && actionNames[f[1][:len(f[1])-1]]:
			r = r[len(f[0])+len(f[1])+1:]
		case actionNames[f[1]] && len(f) == 3 && e.Name != "" && strings.HasPrefix(f[2], e.Name+":"):
			r = f[2][len(e.Name)+1:]
		}
	}
	r = strings.TrimPrefix(strings.TrimSpace(r), "jsonpath: ")
	return r
}

// topicNames and actionNames hold the names the server's reasons use.
var topicNames, actionNames = func() (map[string]bool, map[string]bool) {
	t, a := map[string]bool{}, map[string]bool{}
	for _, n := range fb.EnumNamesTopic {
		t[n] = true
	}
	for _, n := range fb.EnumNamesAction {
		a[n] = true
	}
	return t, a
}()

// Is reports whether target is the sentinel for e's code (or ErrAuthFailed
// for any refused login), or an *Error with the same code.
func (e *Error) Is(target error) bool {
	if t, ok := target.(*Error); ok {
		return t.Code == e.Code
	}
	if target == ErrAuthFailed && e.Op == "login" {
		return true
	}
	if target == ErrTokenExpired {
		return e.Code == protocol.CodeTokenExpired
	}
	s, ok := sentinels[e.Code]
	return ok && s == target
}

// Temporary reports whether the catalogue says a client may retry after this
// code (a close with it is followed by a reconnect).
func (e *Error) Temporary() bool { return e.Code.Reconnect() }

// publicError turns an error from the internal packages into one of this
// package's documented errors.
func publicError(err error) error {
	if err == nil {
		return nil
	}
	var re *conn.RemoteError
	switch {
	case errors.As(err, &re):
		op := "handshake"
		switch {
		case re.Login:
			op = "login"
		case re.Close:
			op = "close"
		}
		return &Error{Code: re.Code, Reason: re.Reason, Op: op}
	case errors.Is(err, conn.ErrHeartbeatTimeout):
		return ErrHeartbeatTimeout
	case errors.Is(err, conn.ErrTooLarge), errors.Is(err, transport.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, conn.ErrProtocol):
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	case errors.Is(err, transport.ErrBadAddress):
		return fmt.Errorf("%w%s", ErrBadAddress, strings.TrimPrefix(err.Error(), transport.ErrBadAddress.Error()))
	case errors.Is(err, conn.ErrClosed):
		return ErrNotConnected
	}
	return fmt.Errorf("eddy: %w", err)
}

// dialError explains a failed connection attempt to addr that took
// elapsed: an address that does not speak Eddy gets an error saying what
// it answered and which address form would fit; anything else is
// publicError's.
func dialError(addr string, err error, elapsed time.Duration) error {
	host := addr
	if u, perr := transport.ParseAddr(addr); perr == nil {
		host = u.Host
	}
	wait := elapsed.Round(100 * time.Millisecond)
	switch {
	case errors.Is(err, transport.ErrHTTPAnswer):
		return &notEddyError{"eddy: " + addr + " answered with HTTP, not the Eddy protocol; a WebSocket port takes ws://" + host + "/", nil}
	case errors.Is(err, transport.ErrNotHTTP):
		return &notEddyError{"eddy: " + addr + " did not answer with HTTP; an Eddy TCP port takes tcp://" + host, nil}
	case errors.Is(err, transport.ErrNoUpgrade):
		return &notEddyError{fmt.Sprintf("eddy: %s did not answer the WebSocket upgrade within %v", addr, wait), context.DeadlineExceeded}
	case errors.Is(err, conn.ErrNoHandshakeAck) && errors.Is(err, context.DeadlineExceeded):
		return &notEddyError{fmt.Sprintf("eddy: %s did not answer the Eddy handshake within %v; is it an Eddy server's port?", addr, wait), context.DeadlineExceeded}
	case errors.Is(err, conn.ErrNoHandshakeAck):
		cause := err
		if errs, ok := err.(interface{ Unwrap() []error }); ok && len(errs.Unwrap()) == 2 {
			cause = errs.Unwrap()[1]
		}
		return &notEddyError{"eddy: " + addr + " did not answer the Eddy handshake: " + strings.TrimPrefix(cause.Error(), "transport: "), cause}
	}
	return publicError(err)
}

// notEddyError is a connection attempt to an address that did not answer
// as an Eddy server: it matches ErrNotEddy and its cause.
type notEddyError struct {
	msg   string
	cause error
}

func (e *notEddyError) Error() string { return e.msg }

func (e *notEddyError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrNotEddy}
	}
	return []error{ErrNotEddy, e.cause}
}

// wrapErr returns an error that reads "eddy: <what>: <err>..." and matches
// every err. Each err's own "eddy: " prefix is left out, so the text says it
// once.
func wrapErr(what string, errs ...error) error { return &wrappedError{what, errs} }

type wrappedError struct {
	what string
	errs []error
}

func (w *wrappedError) Error() string {
	var b strings.Builder
	b.WriteString("eddy: ")
	b.WriteString(w.what)
	for _, e := range w.errs {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Error(), "eddy: "))
	}
	return b.String()
}

func (w *wrappedError) Unwrap() []error { return w.errs }
