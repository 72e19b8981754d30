package eddy_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// jwtServer starts a server that logs in with HS256 tokens and checks
// expiry about every 12ms (a quarter of the heartbeat), and returns it with
// a function signing a token for user that expires at exp. The heartbeat
// timeout stays long: a client stalled on a loaded machine must not be cut
// off for silence, which would add a reconnect of its own.
func jwtServer(t *testing.T) (*engine.Server, func(user string, exp time.Time) string) {
	t.Helper()
	secret := strings.Repeat("s", 32)
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Auth.Strategies = []auth.StrategyConfig{{Type: "jwt", JWT: auth.JWTConfig{HMACSecret: secret}}}
		o.Session.Heartbeat = 50 * time.Millisecond
		o.Session.HeartbeatTimeout = time.Minute
	})
	sign := func(user string, exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "exp": exp.Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return srv, sign
}

// TestLoginWithExpiredToken: a token past its exp is refused with
// TokenExpired, not InvalidCredentials, so the caller knows to get a new one.
func TestLoginWithExpiredToken(t *testing.T) {
	srv, sign := jwtServer(t)
	for _, transport := range []string{"tcp", "ws"} {
		_, err := eddy.Dial(ctxFor(t, 10*time.Second), addrOf(srv, transport),
			eddy.WithAuth(map[string]any{"token": sign("ann", time.Now().Add(-time.Minute))}))
		if !errors.Is(err, eddy.ErrTokenExpired) || !errors.Is(err, &eddy.Error{Code: protocol.CodeTokenExpired}) || !errors.Is(err, eddy.ErrAuthFailed) {
			t.Fatalf("%s: expired token: %v", transport, err)
		}
		_, err = eddy.Dial(ctxFor(t, 10*time.Second), addrOf(srv, transport),
			eddy.WithAuth(map[string]any{"token": "not a token"}))
		if !errors.Is(err, &eddy.Error{Code: protocol.CodeInvalidCredentials}) || errors.Is(err, eddy.ErrTokenExpired) {
			t.Fatalf("%s: bad token: %v", transport, err)
		}
	}
}

// TestAuthFuncRenewsExpiredTokens: WithAuthFunc is asked at every connect;
// when the server closes the connection because the token expired, the
// client reconnects and logs in with a fresh token instead of stopping.
func TestAuthFuncRenewsExpiredTokens(t *testing.T) {
	srv, sign := jwtServer(t)
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			var calls atomic.Int32
			states, waitFor := recStates()
			c := dial(t, addrOf(srv, transport), states,
				eddy.WithReconnect(20*time.Millisecond, 200*time.Millisecond),
				eddy.WithAuthFunc(func(ctx context.Context) (map[string]any, error) {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					// The first token expires in one to two seconds (exp has
					// whole seconds); the ones after last an hour.
					exp := time.Now().Add(time.Hour)
					if calls.Add(1) == 1 {
						exp = time.Now().Add(2 * time.Second)
					}
					return map[string]any{"token": sign("ann", exp)}, nil
				}))
			waitFor(t, eddy.Open)
			waitFor(t, eddy.Reconnecting) // the server closed: TokenExpired
			waitFor(t, eddy.Open)
			if n := calls.Load(); n != 2 {
				t.Fatalf("auth func called %d times, want 2", n)
			}
			if c.User() != "ann" {
				t.Fatalf("user %q", c.User())
			}
			if err := c.Event.EmitAck(ctxFor(t, 5*time.Second), "after/renewal", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("an error from the func fails Dial", func(t *testing.T) {
		boom := errors.New("token service down")
		_, err := eddy.Dial(ctxFor(t, 10*time.Second), addrOf(srv, "tcp"),
			eddy.WithAuthFunc(func(context.Context) (map[string]any, error) { return nil, boom }))
		if !errors.Is(err, boom) {
			t.Fatalf("Dial: %v", err)
		}
	})

	t.Run("without a func an expiry ends the client", func(t *testing.T) {
		states, waitFor := recStates()
		c := dial(t, addrOf(srv, "tcp"), states, eddy.WithReconnect(20*time.Millisecond, 200*time.Millisecond),
			eddy.WithAuth(map[string]any{"token": sign("ann", time.Now().Add(2*time.Second))}))
		waitFor(t, eddy.Closed)
		if !errors.Is(c.Err(), eddy.ErrTokenExpired) {
			t.Fatalf("stopped with %v", c.Err())
		}
	})
}
