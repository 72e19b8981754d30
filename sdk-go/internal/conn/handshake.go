package conn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/transport"
)

// ErrProtocol is wrapped when the server sends something the protocol does
// not allow at that point (or bytes that do not verify).
var ErrProtocol = errors.New("conn: protocol violation")

// ErrNoHandshakeAck is wrapped when no HandshakeAck came: the peer closed,
// sent something that is not an Eddy message, or stayed silent until ctx
// ended. Either way it may not be an Eddy server.
var ErrNoHandshakeAck = errors.New("conn: no answer to the handshake")

// RemoteError is a refusal or close the server sent.
type RemoteError struct {
	Code   protocol.Code
	Reason string
	// Login is set when the error refused a Login.
	Login bool
	// Close is set when the error came in a Connection/Close message.
	Close bool
}

func (e *RemoteError) Error() string {
	what := "error"
	switch {
	case e.Login:
		what = "login refused"
	case e.Close:
		what = "closed by server"
	}
	if e.Reason == "" {
		return fmt.Sprintf("conn: %s: %s (%s)", what, e.Code, e.Code.Message())
	}
	return fmt.Sprintf("conn: %s: %s: %s", what, e.Code, e.Reason)
}

// Welcome is what the server said while the connection was set up.
type Welcome struct {
	// Version is the protocol version of the server's HandshakeAck.
	Version int64
	// HeartbeatMs is the server's ping interval (0 when it named none).
	HeartbeatMs int64
	// ServerInfo is the HandshakeAck data, as sent.
	ServerInfo json.RawMessage
	// User is the user id the login produced.
	User string
	// ClientData is the LoginResult data, as sent.
	ClientData json.RawMessage
}

// LoginID is the request id the Login message carries; the client's request
// tracker starts handing out ids only after the handshake, so no reply can
// be confused with it.
const LoginID = 1

// Handshake runs the handshake and the login on t before Start: it sends
// Connection/Handshake, expects HandshakeAck at protocol.Version, sends
// Auth/Login with auth (nil: anonymous, no data) and waits for LoginResult,
// answering Pings meanwhile. A refusal is a *RemoteError; ctx ending closes t
// and returns ctx's error.
func Handshake(ctx context.Context, t transport.Transport, auth, clientInfo []byte, maxFrame int) (Welcome, error) {
	var w Welcome
	stop := context.AfterFunc(ctx, func() { _ = t.Close() })
	w, err := handshake(t, auth, clientInfo, maxFrame)
	if !stop() && ctx.Err() != nil {
		if w.Version == 0 {
			return w, fmt.Errorf("%w: %w", ErrNoHandshakeAck, ctx.Err())
		}
		return w, fmt.Errorf("conn: login: %w", ctx.Err())
	}
	return w, err
}

func write(t transport.Transport, m *msg.Msg, maxFrame int) error {
	b := msg.Append(frame.AppendHeader(nil, 0), m)
	if maxFrame > 0 && len(b)-frame.HeaderSize > maxFrame {
		return fmt.Errorf("%w: %s message of %d bytes exceeds the %d byte frame limit", ErrTooLarge, m.Action, len(b)-frame.HeaderSize, maxFrame)
	}
	putLen(b, len(b)-frame.HeaderSize)
	return t.WriteFrames(b)
}

func handshake(t transport.Transport, auth, clientInfo []byte, maxFrame int) (Welcome, error) {
	var w Welcome
	if err := write(t, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake,
		Name: protocol.Name, Version: protocol.Version, Data: clientInfo}, maxFrame); err != nil {
		return w, err
	}
	var v msg.View
	p, err := t.ReadMessage()
	if err != nil {
		return w, fmt.Errorf("%w: %w", ErrNoHandshakeAck, err)
	}
	if err := v.Reset(p); err != nil {
		return w, fmt.Errorf("%w: the answer is not an Eddy message: %w", ErrNoHandshakeAck, err)
	}
	switch {
	case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionClose:
		return w, closeError(&v)
	case v.Topic() != fb.TopicConnection || v.Action() != fb.ActionHandshakeAck:
		return w, fmt.Errorf("%w: expected HandshakeAck, got %s/%s", ErrProtocol, v.Topic(), v.Action())
	case v.Version() != protocol.Version:
		return w, &RemoteError{Code: protocol.CodeUnsupportedVersion,
			Reason: fmt.Sprintf("server speaks protocol version %d, this client %d", v.Version(), protocol.Version)}
	}
	w.Version = v.Version()
	if d := v.DataBytes(); len(d) > 0 {
		w.ServerInfo = append(json.RawMessage(nil), d...)
		var info struct {
			HeartbeatMs int64 `json:"heartbeatMs"`
		}
		if err := json.Unmarshal(d, &info); err != nil {
			return w, fmt.Errorf("%w: HandshakeAck data: %w", ErrProtocol, err)
		}
		w.HeartbeatMs = max(info.HeartbeatMs, 0)
	}

	login := msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: LoginID}
	if len(auth) > 0 {
		login.Data = auth
	}
	if err := write(t, &login, maxFrame); err != nil {
		return w, err
	}
	for {
		p, err := t.ReadMessage()
		if err != nil {
			return w, err
		}
		if err := v.Reset(p); err != nil {
			return w, fmt.Errorf("%w: login answer: %w", ErrProtocol, err)
		}
		switch {
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPing:
			if err := write(t, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()}, maxFrame); err != nil {
				return w, err
			}
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionClose:
			return w, closeError(&v)
		case v.Topic() == fb.TopicAuth && v.Action() == fb.ActionLoginResult && v.Id() == LoginID:
			if v.Code() != 0 {
				return w, &RemoteError{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Login: true}
			}
			w.User = string(v.User())
			if d := v.DataBytes(); len(d) > 0 {
				w.ClientData = append(json.RawMessage(nil), d...)
			}
			return w, nil
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPong:
		default:
			return w, fmt.Errorf("%w: expected LoginResult, got %s/%s", ErrProtocol, v.Topic(), v.Action())
		}
	}
}

func closeError(v *msg.View) *RemoteError {
	code := protocol.Code(v.Code())
	if code == 0 {
		code = protocol.CodeNormalClose
	}
	return &RemoteError{Code: code, Reason: string(v.Reason()), Close: true}
}
