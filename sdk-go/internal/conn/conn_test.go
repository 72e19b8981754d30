package conn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// memTransport is an in-memory Transport: the test feeds payloads to in and
// reads what the Conn wrote from out.
type memTransport struct {
	in   chan []byte
	out  chan msg.Msg
	gate chan struct{} // when set, each WriteFrames call waits for a token

	mu    sync.Mutex
	calls int

	closeOnce sync.Once
	closed    chan struct{}
}

func newMem() *memTransport {
	return &memTransport{in: make(chan []byte, 64), out: make(chan msg.Msg, 4096), closed: make(chan struct{})}
}

func (m *memTransport) ReadMessage() ([]byte, error) {
	select { // queued input first, even once closed
	case p := <-m.in:
		return p, nil
	default:
	}
	select {
	case p := <-m.in:
		return p, nil
	case <-m.closed:
		return nil, errors.New("mem: closed")
	}
}

func (m *memTransport) WriteFrames(b []byte) error {
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-m.closed:
			return errors.New("mem: closed")
		}
	}
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	for len(b) > 0 {
		p, n, err := frame.Next(b, len(b))
		if err != nil || n == 0 {
			return errors.New("mem: partial frame")
		}
		var v msg.View
		if err := v.Reset(p); err != nil {
			return err
		}
		m.out <- own(&v)
		b = b[n:]
	}
	return nil
}

func (m *memTransport) Shutdown(time.Duration) error { return m.Close() }
func (m *memTransport) Close() error {
	m.closeOnce.Do(func() { close(m.closed) })
	return nil
}

func (m *memTransport) writeCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func own(v *msg.View) msg.Msg {
	m := msg.Msg{Topic: v.Topic(), Action: v.Action(), ID: v.Id(), Name: string(v.Name()), Version: v.Version(),
		Code: v.Code(), Reason: string(v.Reason()), User: string(v.User())}
	if d := v.DataBytes(); d != nil {
		m.Data = append([]byte(nil), d...)
	}
	for i := 0; i < v.NamesLength(); i++ {
		m.Names = append(m.Names, string(v.NamesAt(i)))
	}
	return m
}

func enc(m *msg.Msg) []byte { return msg.Append(nil, m) }

func next(t *testing.T, m *memTransport) msg.Msg {
	t.Helper()
	select {
	case x := <-m.out:
		return x
	case <-time.After(5 * time.Second):
		t.Fatal("nothing written")
		return msg.Msg{}
	}
}

func TestHandshakeAndLogin(t *testing.T) {
	m := newMem()
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version,
		Data: []byte(`{"heartbeatMs":1500,"server":"eddy","release":"t"}`)})
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 77})
	m.in <- enc(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: LoginID, User: "ann", Data: []byte(`{"role":"x"}`)})
	w, err := Handshake(context.Background(), m, []byte(`{"username":"ann"}`), []byte(`{"sdk":"go"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.User != "ann" || string(w.ClientData) != `{"role":"x"}` || w.HeartbeatMs != 1500 || w.Version != protocol.Version {
		t.Fatalf("welcome %+v", w)
	}
	hs := next(t, m)
	if hs.Action != fb.ActionHandshake || hs.Name != protocol.Name || hs.Version != protocol.Version {
		t.Fatalf("handshake %+v", hs)
	}
	login := next(t, m)
	if login.Topic != fb.TopicAuth || login.Action != fb.ActionLogin || login.ID != LoginID || string(login.Data) != `{"username":"ann"}` {
		t.Fatalf("login %+v", login)
	}
	if pong := next(t, m); pong.Action != fb.ActionPong || pong.ID != 77 {
		t.Fatalf("pong %+v", pong)
	}
}

func TestAnonymousLoginSendsNoData(t *testing.T) {
	m := newMem()
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version})
	m.in <- enc(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: LoginID})
	if _, err := Handshake(context.Background(), m, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	next(t, m)
	if login := next(t, m); login.Data != nil {
		t.Fatalf("anonymous login carried %q", login.Data)
	}
}

func TestHandshakeFailures(t *testing.T) {
	ack := &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version}
	cases := []struct {
		name   string
		script []*msg.Msg
		check  func(error) bool
	}{
		{"wrong version", []*msg.Msg{{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: 2}},
			func(err error) bool {
				var re *RemoteError
				return errors.As(err, &re) && re.Code == protocol.CodeUnsupportedVersion && !re.Close
			}},
		{"close instead of ack", []*msg.Msg{{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: uint16(protocol.CodeTooManyConnections)}},
			func(err error) bool {
				var re *RemoteError
				return errors.As(err, &re) && re.Code == protocol.CodeTooManyConnections && re.Close
			}},
		{"something else first", []*msg.Msg{{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x"}},
			func(err error) bool { return errors.Is(err, ErrProtocol) }},
		{"bad ack data", []*msg.Msg{{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version, Data: []byte("{")}},
			func(err error) bool { return errors.Is(err, ErrProtocol) }},
		{"login refused", []*msg.Msg{ack, {Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: LoginID,
			Code: uint16(protocol.CodeInvalidCredentials), Reason: "bad password"}},
			func(err error) bool {
				var re *RemoteError
				return errors.As(err, &re) && re.Login && re.Code == protocol.CodeInvalidCredentials && re.Reason == "bad password"
			}},
		{"closed during login", []*msg.Msg{ack, {Topic: fb.TopicConnection, Action: fb.ActionClose, Code: uint16(protocol.CodeTooManyAuthAttempts)}},
			func(err error) bool {
				var re *RemoteError
				return errors.As(err, &re) && re.Close && re.Code == protocol.CodeTooManyAuthAttempts
			}},
		{"unexpected during login", []*msg.Msg{ack, {Topic: fb.TopicEvent, Action: fb.ActionEmit}},
			func(err error) bool { return errors.Is(err, ErrProtocol) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMem()
			for _, s := range tc.script {
				m.in <- enc(s)
			}
			_, err := Handshake(context.Background(), m, nil, nil, 0)
			if !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	t.Run("unverifiable", func(t *testing.T) {
		m := newMem()
		m.in <- []byte{1, 2, 3}
		// Bytes that are not an Eddy message where the HandshakeAck was due:
		// not an Eddy server.
		if _, err := Handshake(context.Background(), m, nil, nil, 0); !errors.Is(err, ErrNoHandshakeAck) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		m := newMem()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := Handshake(ctx, m, nil, nil, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("auth too large", func(t *testing.T) {
		m := newMem()
		m.in <- enc(ack)
		if _, err := Handshake(context.Background(), m, make([]byte, 200), nil, 100); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
}

func start(m *memTransport, hb time.Duration, onMsg func(*Conn, *msg.View)) *Conn {
	if onMsg == nil {
		onMsg = func(*Conn, *msg.View) {}
	}
	return Start(Config{Transport: m, Heartbeat: hb, OnMessage: onMsg, MaxQueue: 1 << 10, MaxFrame: 4 << 10})
}

func TestWriterBatchesQueuedMessages(t *testing.T) {
	m := newMem()
	m.gate = make(chan struct{})
	c := start(m, 0, nil)
	defer c.Close(protocol.CodeNormalClose, "", time.Second)
	emit := func(i int) error {
		return c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "n", ID: uint64(i + 1)})
	}
	if err := emit(0); err != nil {
		t.Fatal(err)
	}
	waitTaken(t, c)
	for i := 1; i < 500; i++ {
		if err := emit(i); err != nil {
			t.Fatal(err)
		}
	}
	m.gate <- struct{}{} // first call
	m.gate <- struct{}{} // the other 499 in one call
	for i := range 500 {
		if got := next(t, m); got.ID != uint64(i+1) {
			t.Fatalf("message %d has id %d: order broken", i, got.ID)
		}
	}
	if n := m.writeCalls(); n != 2 {
		t.Fatalf("%d write calls for 500 messages, want 2", n)
	}
	close(m.gate)
}

// waitTaken waits until the writer has taken the queue (and, with a gated
// transport, is blocked writing it).
func waitTaken(t *testing.T, c *Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		taken := len(c.mu.pending) == 0
		c.mu.Unlock()
		if taken {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("writer never took the queue")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSendWaitFlowControlAndTooLarge(t *testing.T) {
	m := newMem()
	m.gate = make(chan struct{})
	c := start(m, 0, nil)
	big := &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "n", Data: make([]byte, 600)}
	if err := c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Data: make([]byte, 5000)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	for i := range 3 { // the writer blocks on the first batch; the queue passes 1 KiB
		if err := c.Send(big); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			waitTaken(t, c)
		}
	}
	blocked := make(chan error, 1)
	go func() { blocked <- c.SendWait(big) }()
	select {
	case err := <-blocked:
		t.Fatalf("SendWait did not wait for space: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(m.gate) // the writer drains; space frees up
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	c.Close(protocol.CodeNormalClose, "", time.Second)

	// A SendWait stuck on a full queue returns when the Conn ends.
	m2 := newMem()
	m2.gate = make(chan struct{})
	c2 := start(m2, 0, nil)
	for i := range 3 {
		_ = c2.Send(big)
		if i == 0 {
			waitTaken(t, c2)
		}
	}
	go func() { blocked <- c2.SendWait(big) }()
	time.Sleep(20 * time.Millisecond)
	c2.Abort(nil)
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	c2.Wait()
}

func TestReaderAnswersPingsAndRoutes(t *testing.T) {
	m := newMem()
	got := make(chan msg.Msg, 8)
	c := start(m, 0, func(_ *Conn, v *msg.View) { got <- own(v) })
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 9})
	if p := next(t, m); p.Action != fb.ActionPong || p.ID != 9 {
		t.Fatalf("pong %+v", p)
	}
	m.in <- enc(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "a", Data: []byte("1")})
	if e := <-got; e.Name != "a" || string(e.Data) != "1" {
		t.Fatalf("routed %+v", e)
	}
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: uint16(protocol.CodeServerShutdown), Reason: "bye"})
	<-c.Done()
	var re *RemoteError
	if !errors.As(c.Err(), &re) || re.Code != protocol.CodeServerShutdown || !re.Close || re.Reason != "bye" {
		t.Fatalf("err = %v", c.Err())
	}
	c.Wait()
	if err := c.Send(&msg.Msg{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after end: %v", err)
	}
}

func TestGarbageEndsConn(t *testing.T) {
	m := newMem()
	c := start(m, 0, nil)
	m.in <- []byte("not a flatbuffer")
	<-c.Done()
	if !errors.Is(c.Err(), ErrProtocol) {
		t.Fatalf("err = %v", c.Err())
	}
	c.Wait()
}

func TestHeartbeat(t *testing.T) {
	const hb = 20 * time.Millisecond
	t.Run("answered", func(t *testing.T) {
		m := newMem()
		c := start(m, hb, nil)
		for range 5 {
			p := next(t, m)
			if p.Action != fb.ActionPing {
				t.Fatalf("got %+v", p)
			}
			m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: p.ID})
		}
		if c.Err() != nil {
			t.Fatalf("answered pings still ended the conn: %v", c.Err())
		}
		c.Close(protocol.CodeNormalClose, "", time.Second)
	})
	t.Run("unanswered", func(t *testing.T) {
		m := newMem()
		start := time.Now()
		c := Start(Config{Transport: m, Heartbeat: hb, OnMessage: func(*Conn, *msg.View) {}})
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat timeout")
		}
		if !errors.Is(c.Err(), ErrHeartbeatTimeout) {
			t.Fatalf("err = %v", c.Err())
		}
		// First ping after one interval, timeout two intervals later.
		if d := time.Since(start); d < 3*hb {
			t.Fatalf("timed out after %v, before three intervals", d)
		}
		c.Wait()
	})
}

func TestCloseSendsCloseAndIsIdempotent(t *testing.T) {
	m := newMem()
	c := start(m, 0, nil)
	_ = c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "last"})
	c.Close(protocol.CodeNormalClose, "done", time.Second)
	if e := next(t, m); e.Name != "last" {
		t.Fatalf("queued message lost: %+v", e)
	}
	if cl := next(t, m); cl.Action != fb.ActionClose || cl.Code != uint16(protocol.CodeNormalClose) || cl.Reason != "done" {
		t.Fatalf("close %+v", cl)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("err = %v", c.Err())
	}
	c.Close(protocol.CodeNormalClose, "again", time.Second)
	select {
	case x := <-m.out:
		t.Fatalf("second Close wrote %+v", x)
	default:
	}
}

// FuzzHandshake feeds arbitrary server answers to the handshake: it must
// return (an error or a Welcome), never panic or hang.
func FuzzHandshake(f *testing.F) {
	ack := enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshakeAck, Version: protocol.Version, Data: []byte(`{"heartbeatMs":5}`)})
	ok := enc(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLoginResult, ID: LoginID, User: "u", Data: []byte(`{}`)})
	f.Add(ack, ok)
	f.Add(ack, enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: 22}))
	f.Add([]byte{}, []byte{0xff})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		m := newMem()
		m.in <- first
		m.in <- second
		m.Close() // a third read fails instead of blocking
		w, err := Handshake(context.Background(), m, nil, nil, 0)
		if err == nil && w.Version != protocol.Version {
			t.Fatalf("accepted version %d", w.Version)
		}
	})
}

func TestSyncWaitsForItsPong(t *testing.T) {
	m := newMem()
	c := start(m, 0, func(*Conn, *msg.View) {})
	done := make(chan error, 1)
	go func() { done <- c.Sync(context.Background()) }()
	p := next(t, m)
	if p.Topic != fb.TopicConnection || p.Action != fb.ActionPing || p.ID&syncBit == 0 {
		t.Fatalf("sync sent %+v", p)
	}
	// A heartbeat's Pong and another id do not end the wait.
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: p.ID &^ syncBit})
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: p.ID + 1})
	select {
	case err := <-done:
		t.Fatalf("Sync returned %v before its Pong", err)
	case <-time.After(50 * time.Millisecond):
	}
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: p.ID})
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- c.Sync(ctx) }()
	next(t, m)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Sync: %v", err)
	}
	go func() { done <- c.Sync(context.Background()) }()
	next(t, m)
	m.in <- enc(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionClose, Code: uint16(protocol.CodeServerShutdown)})
	var re *RemoteError
	if err := <-done; !errors.As(err, &re) {
		t.Fatalf("Sync on an ending Conn: %v", err)
	}
	c.Wait()
	if err := c.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after the end: %v", err)
	}
}
