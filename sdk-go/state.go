package eddy

import "strconv"

// ConnectionState is where a Client is in its life. The handler given with
// WithConnectionStateHandler sees every change, in order.
//
//	Connecting -> Open -> Reconnecting -> Open -> ... -> Closed
//	                           \-> AuthFailed
type ConnectionState uint8

const (
	// Connecting: Dial is connecting, handshaking and logging in.
	Connecting ConnectionState = iota
	// Open: connected and logged in; requests go to the server. After a
	// reconnect, Open is reported once the server has processed the renewed
	// event and presence subscriptions, providers and listens, so what is
	// published after Open reaches them.
	Open
	// Reconnecting: the connection was lost; the client redials with
	// backoff. Emits fail with ErrNotConnected; subscriptions are kept and
	// renewed once Open again.
	Reconnecting
	// Closed: stopped for good, by Close, by a server close whose code says
	// not to reconnect, or because reconnection is off. Terminal.
	Closed
	// AuthFailed: a login on reconnect was refused with a code that does
	// not invite retrying; the client stopped. Terminal.
	AuthFailed
)

// String returns the state's name.
func (s ConnectionState) String() string {
	switch s {
	case Connecting:
		return "Connecting"
	case Open:
		return "Open"
	case Reconnecting:
		return "Reconnecting"
	case Closed:
		return "Closed"
	case AuthFailed:
		return "AuthFailed"
	}
	return "ConnectionState(" + strconv.Itoa(int(s)) + ")"
}

// Terminal reports whether the client never leaves s.
func (s ConnectionState) Terminal() bool { return s == Closed || s == AuthFailed }
