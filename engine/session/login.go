package session

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/valve"
)

// login runs the Authenticator, on the loop when it never blocks and on a
// spawned goroutine otherwise, and finishes on the loop either way.
func (s *Session) login(v *msg.View) {
	if s.state.Load() == stateAuthenticating {
		s.fail(fb.TopicAuth, fb.ActionLogin, v.Id(), nil, protocol.CodeUnknownAction, "a login is already in progress")
		return
	}
	id := v.Id()
	req := &LoginRequest{Data: append([]byte(nil), v.DataBytes()...), Header: s.c.Header()}
	if a := s.c.RemoteAddr(); a != nil {
		req.RemoteAddr = a.String()
	}
	auth := s.m.cfg.Auth
	if !auth.Blocking() {
		ident, err := auth.Authenticate(context.Background(), req)
		s.finishLogin(id, ident, err)
		return
	}
	s.state.Store(stateAuthenticating)
	c := s.c
	ctx, cancel := context.WithTimeout(context.Background(), s.m.opts.HandshakeTimeout)
	started := s.m.cfg.Go("login", func() {
		defer cancel()
		ident, err := auth.Authenticate(ctx, req)
		_ = c.Post(func() { s.finishLogin(id, ident, err) })
	})
	if !started {
		cancel()
		s.c.CloseWith(protocol.CodeServerShutdown, "the server is shutting down")
	}
}

func (s *Session) finishLogin(id uint64, ident Identity, err error) {
	if err != nil {
		s.m.cfg.Metrics.Login(false)
		s.state.Store(stateLogin)
		s.failedLogins++
		code, reason := protocol.CodeInvalidCredentials, protocol.CodeInvalidCredentials.Message()
		var le *LoginError
		if errors.As(err, &le) {
			code, reason = le.Code, le.Reason
		}
		if s.failedLogins >= s.m.opts.MaxAuthAttempts {
			s.send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: id, Code: uint16(protocol.CodeTooManyAuthAttempts), Reason: protocol.CodeTooManyAuthAttempts.Message()})
			s.c.CloseWith(protocol.CodeTooManyAuthAttempts, protocol.CodeTooManyAuthAttempts.Message())
			return
		}
		s.send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: id, Code: uint16(code), Reason: reason})
		return
	}
	s.m.cfg.Metrics.Login(true)
	s.id = ident
	s.vuser = valve.User{ID: ident.User, Authenticated: ident.User != "", Data: ident.ServerData}
	if !ident.ExpiresAt.IsZero() {
		s.expiresAt.Store(ident.ExpiresAt.UnixNano())
	}
	s.state.Store(stateOpen)
	s.joinPresence()
	s.send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: id, User: ident.User, Data: ident.ClientData})
}

// Open is an Authenticator that accepts everyone, taking the user name from
// "username" in the auth data (anonymous when absent). Engine wiring replaces
// it with the configured strategies.
type Open struct{}

// Authenticate implements Authenticator.
func (Open) Authenticate(_ context.Context, req *LoginRequest) (Identity, error) {
	return Identity{User: usernameOf(req.Data)}, nil
}

// Blocking implements Authenticator.
func (Open) Blocking() bool { return false }

// usernameOf extracts a top-level "username" string from JSON auth data
// without a full parse; anything unexpected yields "".
func usernameOf(data []byte) string {
	var v struct {
		Username string `json:"username"`
	}
	if len(data) == 0 || json.Unmarshal(data, &v) != nil {
		return ""
	}
	return v.Username
}
