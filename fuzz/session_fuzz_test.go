package fuzz

import (
	"net"
	"sync"
	"testing"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/listen"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/presence"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/engine/rpc"
	"github.com/eddy-realtime/eddy/engine/session"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/store"
)

// memTransport is a netloop.Transport that records what the server writes.
type memTransport struct {
	mu     sync.Mutex
	out    []byte
	closed bool
}

func (t *memTransport) Write(b []byte) error {
	t.mu.Lock()
	t.out = append(t.out, b...)
	t.mu.Unlock()
	return nil
}
func (t *memTransport) Buffered() int { return 0 }
func (t *memTransport) Wake()         {}
func (t *memTransport) Close()        { t.mu.Lock(); t.closed = true; t.mu.Unlock() }
func (t *memTransport) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}

// memPersister keeps records in a map: the fuzz targets exercise the
// record paths without disk.
type memPersister struct {
	mu sync.Mutex
	m  map[string]store.Record
}

func (p *memPersister) Get(name string) (int64, []byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[name]
	if !ok {
		return 0, nil, record.ErrNotFound
	}
	return r.Version, r.Data, nil
}

func (p *memPersister) Put(name string, version int64, data []byte, done func(error)) {
	p.mu.Lock()
	p.m[name] = store.Record{Version: version, Data: data}
	p.mu.Unlock()
	if done != nil {
		done(nil)
	}
}

func (p *memPersister) Delete(name string, done func(error)) {
	p.mu.Lock()
	delete(p.m, name)
	p.mu.Unlock()
	if done != nil {
		done(nil)
	}
}

// syncSpawn runs "background" work at once, so a fuzz input's effects all
// happen before Feed returns.
func syncSpawn(_ string, f func()) bool { f(); return true }

func newServer() *netloop.Server {
	records := record.New(&memPersister{m: map[string]store.Record{}}, syncSpawn, record.Options{})
	events := event.New()
	m := session.NewManager(session.Config{Auth: session.Open{}, Events: events, Records: records, Go: syncSpawn,
		RPC: rpc.New(rpc.Config{}), Presence: presence.New(), EventListen: listen.New(fb.TopicEvent, events)})
	srv := &netloop.Server{Handler: m}
	srv.Options.EnsureDefaults()
	srv.Options.MaxFrame = 1 << 16
	return srv
}

func opening() []byte {
	var b []byte
	b = frame.Append(b, msg.Append(nil, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version}))
	b = frame.Append(b, msg.Append(nil, &msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1, Data: []byte(`{"username":"f"}`)}))
	return b
}

// feed runs input through a TCP connection the way an event loop does: in
// chunks, keeping unconsumed bytes, flushing after each call.
func feed(c *netloop.Conn, input []byte, chunk int) {
	var pending []byte
	for len(input) > 0 {
		n := min(chunk, len(input))
		pending = append(pending, input[:n]...)
		input = input[n:]
		used := c.Feed(pending)
		pending = pending[used:]
		c.Flush()
	}
}

// FuzzSessionTCP feeds arbitrary bytes, after a valid handshake and login,
// into a session with real tables. The server must never panic, and every
// frame it writes must be a valid message.
func FuzzSessionTCP(f *testing.F) {
	f.Add(frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Names: []string{"a", "b"}})), uint8(3))
	f.Add(frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "a", Data: []byte(`{}`)})), uint8(1))
	f.Add(frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: "r", Version: 1, Data: []byte(`{}`)})), uint8(7))
	f.Add(frame.Append(nil, []byte("garbage that is not a flatbuffer")), uint8(5))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2}, uint8(2))
	f.Add(frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: 3, Name: "add"})), uint8(9))
	f.Add(frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: 4, Name: "add", Data: []byte(`1`)})), uint8(9))
	f.Add(frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQuery, ID: 5})), uint8(9))
	f.Add(frame.Append(nil, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionListen, ID: 6, Name: "a.*"})), uint8(9))
	srv := newServer()
	f.Fuzz(func(t *testing.T, input []byte, chunk uint8) {
		tr := &memTransport{}
		c := netloop.NewConn(srv, netloop.TCP, tr)
		c.Open()
		feed(c, opening(), 64)
		feed(c, input, int(chunk)+1)
		c.Closed(nil)
		checkOutput(t, tr.out)
	})
}

// FuzzSessionWS does the same through the WebSocket path, starting from a
// valid upgrade.
func FuzzSessionWS(f *testing.F) {
	mask := [4]byte{9, 8, 7, 6}
	f.Add(ws.AppendFrame(nil, ws.OpBinary, msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "a"}), false, &mask), uint8(4))
	f.Add(ws.AppendFrame(nil, ws.OpPing, []byte("hi"), false, &mask), uint8(1))
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 9}, uint8(3))
	srv := newServer()
	f.Fuzz(func(t *testing.T, input []byte, chunk uint8) {
		tr := &memTransport{}
		c := netloop.NewConn(srv, netloop.WebSocket, tr)
		c.Open()
		key := ws.NewKey()
		upgrade := ws.AppendRequest(nil, "127.0.0.1", "/", key, true, nil)
		feed(c, upgrade, len(upgrade))
		var hs []byte
		hs = ws.AppendFrame(hs, ws.OpBinary, msg.Append(nil, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version}), false, &mask)
		feed(c, hs, len(hs))
		feed(c, input, int(chunk)+1)
		c.Closed(nil)
		if len(tr.out) == 0 {
			t.Fatal("no upgrade response")
		}
	})
}

// checkOutput parses the server's TCP output: every frame must be a
// verifiable message.
func checkOutput(t *testing.T, out []byte) {
	t.Helper()
	for len(out) > 0 {
		p, n, err := frame.Next(out, 1<<24)
		if err != nil || n == 0 {
			t.Fatalf("server wrote a broken frame: %v (%d bytes left)", err, len(out))
		}
		if err := msg.Verify(p); err != nil {
			t.Fatalf("server wrote a malformed message: %v", err)
		}
		out = out[n:]
	}
}
