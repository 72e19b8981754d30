package engine_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func login(c *enginetest.Client, data string) *msg.View {
	c.Send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1, Data: []byte(data)})
	return c.Expect(fb.TopicAuth, fb.ActionLoginResult)
}

// TestLoginThroughUsersFileThenNone checks the chain over the wire: a file
// user with a wrong password is refused (never falling through to none), an
// unknown user is let in by none, and repeated failures close the connection.
func TestLoginThroughUsersFileThenNone(t *testing.T) {
	dir := t.TempDir()
	argon, err := auth.HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := "users:\n  ann:\n    password: \"" + argon + "\"\n    clientData: {theme: dark}\n    serverData: {role: admin}\n" +
		"  bob:\n    password: \"" + string(bc) + "\"\n"
	path := filepath.Join(dir, "users.yml")
	if err := os.WriteFile(path, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Auth.Strategies = []auth.StrategyConfig{{Type: "file", File: auth.FileConfig{Path: path}}, {Type: "none"}}
		o.Session.MaxAuthAttempts = 2
	})

	c := enginetest.DialTCP(t, srv.TCPAddr())
	c.Timeout = 10 * time.Second
	c.Handshake()
	if v := login(c, `{"username":"ann","password":"s3cret"}`); v.Code() != 0 || string(v.User()) != "ann" || string(v.DataBytes()) != `{"theme":"dark"}` {
		t.Fatalf("ann: code %d user %q data %s", v.Code(), v.User(), v.DataBytes())
	}

	c = enginetest.DialWS(t, srv.WSAddr(), false)
	c.Timeout = 10 * time.Second
	c.Handshake()
	if v := login(c, `{"username":"bob","password":"hunter2"}`); v.Code() != 0 || string(v.User()) != "bob" {
		t.Fatalf("bob (bcrypt): code %d", v.Code())
	}

	c = enginetest.DialTCP(t, srv.TCPAddr())
	c.Timeout = 10 * time.Second
	c.Handshake()
	if v := login(c, `{"username":"ann","password":"wrong"}`); protocol.Code(v.Code()) != protocol.CodeInvalidCredentials {
		t.Fatalf("wrong password: code %d", v.Code())
	}
	// Nothing but login is accepted meanwhile.
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: "x"})
	if v := c.Expect(fb.TopicEvent, fb.ActionError); protocol.Code(v.Code()) != protocol.CodeNotAuthenticated {
		t.Fatalf("code %d", v.Code())
	}
	if v := login(c, `{"username":"ann"}`); protocol.Code(v.Code()) != protocol.CodeTooManyAuthAttempts {
		t.Fatalf("second failure: code %d", v.Code())
	}
	if code := c.ExpectClose(); code != protocol.CodeTooManyAuthAttempts {
		t.Fatalf("close code %v", code)
	}

	c = enginetest.DialTCP(t, srv.TCPAddr())
	c.Handshake()
	if v := login(c, `{"username":"carol","password":"anything"}`); v.Code() != 0 || string(v.User()) != "carol" {
		t.Fatalf("unknown user through none: code %d user %q", v.Code(), v.User())
	}
}
