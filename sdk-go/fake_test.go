package eddy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/transport"
)

// fakeServer speaks docs/protocol.md over raw TCP and WebSocket well enough
// to test the client: handshake, login, heartbeats, close, and the event
// table (subscribe, unsubscribe, emit fan-out that skips the publisher). Its
// behaviour is scripted per test through the fields guarded by mu, and it
// logs every message it receives.
type fakeServer struct {
	TCP string // tcp://127.0.0.1:port
	WS  string // ws://127.0.0.1:port/

	tcpLn  net.Listener
	httpLn net.Listener
	http   *http.Server
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		version     int64 // HandshakeAck version
		heartbeatMs int64
		noPong      bool
		// login decides a Login; nil accepts anyone as "anon" or the
		// "username" of the auth data.
		login func(data []byte) (user string, clientData string, code protocol.Code)
		// deny refuses an action on a name with a code (0 allows).
		deny func(action fb.Action, name string) protocol.Code
		// hook sees every message after login first; true means handled.
		hook   func(sc *serverConn, m msg.Msg) bool
		conns  []*serverConn
		subs   map[string]map[*serverConn]bool
		log    []record
		closed bool
	}
	logged chan struct{} // pinged (non-blocking) on every logged message
}

type record struct {
	conn *serverConn
	m    msg.Msg
}

type serverConn struct {
	s *fakeServer
	n int // 1-based accept order
	// user is the logged-in user id (set once, before the session loop).
	user string
	t    transport.Transport
	wmu  sync.Mutex

	once sync.Once
	gone chan struct{}
}

func newFakeServer() (*fakeServer, error) {
	s := &fakeServer{logged: make(chan struct{}, 1)}
	s.mu.version = protocol.Version
	s.mu.heartbeatMs = 30000
	s.mu.subs = map[string]map[*serverConn]bool{}
	var err error
	if s.tcpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if s.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.tcpLn.Close()
		return nil, err
	}
	s.TCP = "tcp://" + s.tcpLn.Addr().String()
	s.WS = "ws://" + s.httpLn.Addr().String() + "/"
	s.http = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionNoContextTakeover})
		if err != nil {
			return
		}
		s.serve(transport.NewWebSocket(wc, DefaultMaxFrame))
	})}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(s.httpLn)
	}()
	go func() {
		defer s.wg.Done()
		for {
			nc, err := s.tcpLn.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(transport.NewTCP(nc, DefaultMaxFrame))
			}()
		}
	}()
	return s, nil
}

// startFake starts a fake server that is shut down when the test ends.
func startFake(t testing.TB) *fakeServer {
	t.Helper()
	s, err := newFakeServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops listening and drops every connection.
func (s *fakeServer) Close() {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return
	}
	s.mu.closed = true
	conns := slices.Clone(s.mu.conns)
	s.mu.Unlock()
	s.tcpLn.Close()
	for _, sc := range conns {
		sc.Drop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	s.wg.Wait()
}

func (s *fakeServer) set(f func(s *fakeServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func owned(v *msg.View) msg.Msg {
	m := msg.Msg{Topic: v.Topic(), Action: v.Action(), Flags: fb.Flags(v.Flags()), ID: v.Id(), Name: string(v.Name()),
		Version: v.Version(), Code: v.Code(), Reason: string(v.Reason()), User: string(v.User())}
	if d := v.DataBytes(); d != nil {
		m.Data = append([]byte(nil), d...)
	}
	for i := 0; i < v.NamesLength(); i++ {
		m.Names = append(m.Names, string(v.NamesAt(i)))
	}
	return m
}

// Send writes m to the client.
func (sc *serverConn) Send(m *msg.Msg) error {
	b := msg.Append(frame.AppendHeader(nil, 0), m)
	putFrameLen(b)
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	return sc.t.WriteFrames(b)
}

func putFrameLen(b []byte) {
	n := len(b) - frame.HeaderSize
	b[0], b[1], b[2], b[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
}

// Drop closes the connection without a Close message (a network failure).
func (sc *serverConn) Drop() {
	sc.once.Do(func() {
		close(sc.gone)
		_ = sc.t.Close()
	})
}

// CloseWith sends Close{code, reason} and closes, as the server does.
func (sc *serverConn) CloseWith(code protocol.Code, reason string) {
	_ = sc.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: uint16(code), Reason: reason})
	sc.Drop()
}

func (s *fakeServer) record(sc *serverConn, m msg.Msg) {
	s.mu.Lock()
	s.mu.log = append(s.mu.log, record{sc, m})
	s.mu.Unlock()
	select {
	case s.logged <- struct{}{}:
	default:
	}
}

func (s *fakeServer) serve(t transport.Transport) {
	sc := &serverConn{s: s, t: t, gone: make(chan struct{})}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		_ = t.Close()
		return
	}
	s.mu.conns = append(s.mu.conns, sc)
	sc.n = len(s.mu.conns)
	s.mu.Unlock()
	defer s.forget(sc)
	defer sc.Drop()

	var v msg.View
	read := func() (msg.Msg, bool) {
		p, err := t.ReadMessage()
		if errors.Is(err, transport.ErrTooLarge) {
			sc.CloseWith(protocol.CodeMessageTooLarge, "message exceeds the maximum frame size")
			return msg.Msg{}, false
		}
		if err != nil {
			return msg.Msg{}, false
		}
		if v.Reset(p) != nil {
			sc.CloseWith(protocol.CodeProtocolError, "malformed message")
			return msg.Msg{}, false
		}
		m := owned(&v)
		s.record(sc, m)
		return m, true
	}

	// 1. Handshake.
	m, ok := read()
	if !ok {
		return
	}
	if m.Topic != fb.TopicConnection || m.Action != fb.ActionHandshake {
		sc.CloseWith(protocol.CodeHandshakeRequired, "the first message must be a handshake")
		return
	}
	if m.Version != protocol.Version || m.Name != protocol.Name {
		sc.CloseWith(protocol.CodeUnsupportedVersion, fmt.Sprintf("version %d is not supported", m.Version))
		return
	}
	s.mu.Lock()
	version, hb := s.mu.version, s.mu.heartbeatMs
	s.mu.Unlock()
	_ = sc.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: version,
		Data: fmt.Appendf(nil, `{"heartbeatMs":%d,"server":"eddy","release":"fake"}`, hb)})

	// 2. Login.
	for {
		m, ok = read()
		if !ok {
			return
		}
		if m.Topic == fb.TopicConnection && s.connection(sc, m) {
			return
		}
		if m.Topic == fb.TopicConnection {
			continue
		}
		if m.Topic != fb.TopicAuth || m.Action != fb.ActionLogin {
			_ = sc.Send(&msg.Msg{Topic: m.Topic, Action: fb.ActionError, ID: m.ID, Name: m.Name,
				Code: uint16(protocol.CodeNotAuthenticated), Reason: "log in first"})
			continue
		}
		s.mu.Lock()
		login := s.mu.login
		s.mu.Unlock()
		user, data, code := "anon", "", protocol.Code(0)
		if login != nil {
			user, data, code = login(m.Data)
		} else if len(m.Data) > 0 {
			var a struct{ Username string }
			if json.Unmarshal(m.Data, &a) == nil && a.Username != "" {
				user = a.Username
			}
		}
		if code != 0 {
			_ = sc.Send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: m.ID, Code: uint16(code), Reason: "login refused"})
			if code.Closes() {
				sc.CloseWith(code, "login refused")
				return
			}
			continue
		}
		s.mu.Lock()
		sc.user = user
		s.mu.Unlock()
		res := msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: m.ID, User: user}
		if data != "" {
			res.Data = []byte(data)
		}
		_ = sc.Send(&res)
		break
	}

	// 3. Session.
	for {
		m, ok = read()
		if !ok {
			return
		}
		s.mu.Lock()
		hook := s.mu.hook
		s.mu.Unlock()
		if hook != nil && hook(sc, m) {
			continue
		}
		switch m.Topic {
		case fb.TopicConnection:
			if s.connection(sc, m) {
				return
			}
		case fb.TopicEvent:
			s.event(sc, m)
		default:
			_ = sc.Send(&msg.Msg{Topic: m.Topic, Action: fb.ActionError, ID: m.ID, Name: m.Name,
				Code: uint16(protocol.CodeUnknownAction), Reason: "unknown topic"})
		}
	}
}

// connection handles Connection messages; it reports whether the
// connection is over.
func (s *fakeServer) connection(sc *serverConn, m msg.Msg) bool {
	switch m.Action {
	case fb.ActionPing:
		s.mu.Lock()
		noPong := s.mu.noPong
		s.mu.Unlock()
		if !noPong {
			_ = sc.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: m.ID})
		}
	case fb.ActionClose:
		return true
	}
	return false
}

func (s *fakeServer) names(m msg.Msg) []string {
	if len(m.Names) > 0 {
		return m.Names
	}
	return []string{m.Name}
}

func (s *fakeServer) event(sc *serverConn, m msg.Msg) {
	fail := func(name string, code protocol.Code) {
		_ = sc.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionError, ID: m.ID, Name: name, Code: uint16(code),
			Reason: fmt.Sprintf("Event/%s %q: %s", m.Action, name, code.Message())})
	}
	s.mu.Lock()
	deny := s.mu.deny
	s.mu.Unlock()
	switch m.Action {
	case fb.ActionSubscribe:
		for _, n := range s.names(m) {
			if n == "" {
				fail(n, protocol.CodeInvalidName)
				return
			}
			if deny != nil {
				if code := deny(fb.ActionSubscribe, n); code != 0 {
					fail(n, code)
					return
				}
			}
			s.mu.Lock()
			if s.mu.subs[n] == nil {
				s.mu.subs[n] = map[*serverConn]bool{}
			}
			s.mu.subs[n][sc] = true
			s.mu.Unlock()
		}
		_ = sc.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionAck, ID: m.ID})
	case fb.ActionUnsubscribe:
		s.mu.Lock()
		for _, n := range s.names(m) {
			delete(s.mu.subs[n], sc)
		}
		s.mu.Unlock()
		_ = sc.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionAck, ID: m.ID})
	case fb.ActionEmit:
		if deny != nil {
			if code := deny(fb.ActionEmit, m.Name); code != 0 {
				fail(m.Name, code)
				return
			}
		}
		if len(m.Data) > 0 && !json.Valid(m.Data) {
			fail(m.Name, protocol.CodeInvalidData)
			return
		}
		s.mu.Lock()
		var to []*serverConn
		for c := range s.mu.subs[m.Name] {
			if c != sc {
				to = append(to, c)
			}
		}
		s.mu.Unlock()
		out := msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: m.Name, Data: m.Data}
		for _, c := range to {
			_ = c.Send(&out)
		}
		if m.ID != 0 {
			_ = sc.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionAck, ID: m.ID})
		}
	default:
		fail(m.Name, protocol.CodeUnknownAction)
	}
}

func (s *fakeServer) forget(sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range s.mu.subs {
		delete(set, sc)
	}
}

// conn returns the n-th accepted connection (1-based), waiting for it.
func (s *fakeServer) conn(t testing.TB, n int) *serverConn {
	t.Helper()
	var sc *serverConn
	s.waitUntil(t, fmt.Sprintf("connection %d", n), func() bool {
		if len(s.mu.conns) >= n {
			sc = s.mu.conns[n-1]
			return true
		}
		return false
	})
	return sc
}

// connOf returns the connection logged in as user, waiting for it.
func (s *fakeServer) connOf(t testing.TB, user string) *serverConn {
	t.Helper()
	var sc *serverConn
	s.waitUntil(t, "connection of "+user, func() bool {
		for _, c := range s.mu.conns {
			if c.user == user {
				sc = c
				return true
			}
		}
		return false
	})
	return sc
}

func (s *fakeServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}

// waitUntil polls cond (called with s.mu held) until it holds.
func (s *fakeServer) waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake server: timed out waiting for %s; log:\n%s", what, s.dump())
		}
		select {
		case <-s.logged:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// expect waits for a logged message matching pred and returns it.
func (s *fakeServer) expect(t testing.TB, what string, pred func(r record) bool) record {
	t.Helper()
	var got record
	s.waitUntil(t, what, func() bool {
		for _, r := range s.mu.log {
			if pred(r) {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

// matching returns the logged messages matching pred so far.
func (s *fakeServer) matching(pred func(r record) bool) []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []record
	for _, r := range s.mu.log {
		if pred(r) {
			out = append(out, r)
		}
	}
	return out
}

func (s *fakeServer) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range s.mu.log {
		fmt.Fprintf(&b, "  conn %d: %s/%s id=%d name=%q names=%v code=%d data=%s\n",
			r.conn.n, r.m.Topic, r.m.Action, r.m.ID, r.m.Name, r.m.Names, r.m.Code, r.m.Data)
	}
	return b.String()
}

func is(topic fb.Topic, action fb.Action) func(r record) bool {
	return func(r record) bool { return r.m.Topic == topic && r.m.Action == action }
}

func on(n int, pred func(r record) bool) func(r record) bool {
	return func(r record) bool { return r.conn.n == n && pred(r) }
}
