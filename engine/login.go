package engine

import (
	"context"
	"errors"

	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/session"
	"github.com/eddy-realtime/eddy/protocol"
)

// authenticator adapts the configured auth.Chain to session.Authenticator.
type authenticator struct {
	chain    *auth.Chain
	blocking bool
}

var _ session.Authenticator = (*authenticator)(nil)

func newAuthenticator(chain *auth.Chain) *authenticator {
	a := &authenticator{chain: chain}
	for _, n := range chain.Names() {
		if n != "none" && n != "header" {
			a.blocking = true // password hashing, files, tokens and webhooks take time
		}
	}
	return a
}

func (a *authenticator) Blocking() bool { return a.blocking }

// Authenticate maps the chain's outcome onto catalogue codes without saying
// which part of the credentials was wrong.
func (a *authenticator) Authenticate(ctx context.Context, req *session.LoginRequest) (session.Identity, error) {
	r, err := a.chain.Authenticate(ctx, &auth.Request{Data: req.Data, RemoteAddr: req.RemoteAddr, Header: req.Header})
	switch {
	case err == nil:
		return session.Identity{User: r.ID, ClientData: r.ClientData, ServerData: r.ServerData, ExpiresAt: r.ExpiresAt}, nil
	case errors.Is(err, auth.ErrUnavailable):
		return session.Identity{}, &session.LoginError{Code: protocol.CodeAuthUnavailable, Reason: protocol.CodeAuthUnavailable.Message()}
	case errors.Is(err, auth.ErrExpired):
		// Specific, so that a client knows to fetch new credentials.
		return session.Identity{}, &session.LoginError{Code: protocol.CodeTokenExpired, Reason: protocol.CodeTokenExpired.Message()}
	default:
		return session.Identity{}, &session.LoginError{Code: protocol.CodeInvalidCredentials, Reason: protocol.CodeInvalidCredentials.Message()}
	}
}
