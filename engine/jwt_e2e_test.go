package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// TestJWTExpiryDisconnects logs in with a token that expires shortly and
// checks the server closes the connection with TokenExpired when it does;
// an expired or forged token is refused at login.
func TestJWTExpiryDisconnects(t *testing.T) {
	secret := strings.Repeat("k", 32)
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Auth.Strategies = []auth.StrategyConfig{{Type: "jwt", JWT: auth.JWTConfig{HMACSecret: secret}}}
		o.Session.Heartbeat = 100 * time.Millisecond
		o.Session.HeartbeatTimeout = time.Minute // a stalled test is not cut off for silence
	})
	sign := func(key string, exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ann", "exp": exp.Unix()}).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	c := enginetest.DialTCP(t, srv.TCPAddr())
	c.Handshake()
	if v := login(c, `{"token":"`+sign(secret, time.Now().Add(-time.Minute))+`"}`); protocol.Code(v.Code()) != protocol.CodeTokenExpired {
		t.Fatalf("expired token: code %d", v.Code())
	}
	if v := login(c, `{"token":"`+sign(strings.Repeat("x", 32), time.Now().Add(time.Hour))+`"}`); protocol.Code(v.Code()) != protocol.CodeInvalidCredentials {
		t.Fatalf("forged token: code %d", v.Code())
	}

	c = enginetest.DialWS(t, srv.WSAddr(), false)
	c.Handshake()
	if v := login(c, `{"token":"`+sign(secret, time.Now().Add(1500*time.Millisecond))+`"}`); v.Code() != 0 || string(v.User()) != "ann" {
		t.Fatalf("valid token refused: %d %s", v.Code(), v.Reason())
	}
	c.Timeout = 5 * time.Second
	for {
		v, err := c.Next()
		if err != nil {
			t.Fatalf("connection ended without TokenExpired: %v", err)
		}
		if v.Action() == fb.ActionPing { // keep the heartbeat alive
			c.Send(pong(v.Id()))
			continue
		}
		if protocol.Code(v.Code()) == protocol.CodeTokenExpired {
			return
		}
	}
}

func pong(id uint64) *msg.Msg {
	return &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: id}
}
