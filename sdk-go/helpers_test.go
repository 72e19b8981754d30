package eddy

import (
	"bytes"
	"context"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientGoroutines are the functions whose goroutines a stopped client must
// not leave behind.
var clientGoroutines = []string{
	"sdk-go.(*dispatcher).run",
	"sdk-go.(*Client).supervise",
	"internal/conn.(*Conn).readLoop",
	"internal/conn.(*Conn).writeLoop",
	"internal/conn.(*Conn).pingLoop",
}

// leaked returns the stacks of client goroutines still running.
func leaked() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range clientGoroutines {
			if strings.Contains(g, fn) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// checkLeaks fails the test if client goroutines outlive it. Call it first
// so its cleanup runs after the clients' and the fake server's.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			l := leaked()
			if len(l) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d client goroutines leaked:\n%s", len(l), strings.Join(l, "\n\n"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// states records the states a client reports.
type states struct {
	mu  sync.Mutex
	got []ConnectionState
	ch  chan ConnectionState
}

func newStates() *states { return &states{ch: make(chan ConnectionState, 64)} }

func (s *states) handler(st ConnectionState) {
	s.mu.Lock()
	s.got = append(s.got, st)
	s.mu.Unlock()
	s.ch <- st
}

func (s *states) list() []ConnectionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ConnectionState(nil), s.got...)
}

// waitFor waits until the client reported want.
func (s *states) waitFor(t testing.TB, want ConnectionState) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st := <-s.ch:
			if st == want {
				return
			}
		case <-timeout:
			t.Fatalf("state %s never reported; got %v", want, s.list())
		}
	}
}

func dial(t testing.TB, addr string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatalf("Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// inbox collects event callbacks.
type inbox struct {
	ch chan string
}

func newInbox() *inbox { return &inbox{ch: make(chan string, 4096)} }

func (b *inbox) fn(data []byte) { b.ch <- string(data) }

func (b *inbox) named(name string, data []byte) { b.ch <- name + "=" + string(data) }

func (b *inbox) next(t testing.TB) string {
	t.Helper()
	select {
	case s := <-b.ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no event delivered")
		return ""
	}
}

// quiet asserts nothing arrives for a short while.
func (b *inbox) quiet(t testing.TB) {
	t.Helper()
	select {
	case s := <-b.ch:
		t.Fatalf("unexpected event %q", s)
	case <-time.After(50 * time.Millisecond):
	}
}

var transports = []struct {
	name string
	addr func(*fakeServer) string
}{
	{"tcp", func(s *fakeServer) string { return s.TCP }},
	{"ws", func(s *fakeServer) string { return s.WS }},
}

func countGoroutines() int {
	runtime.GC()
	return runtime.NumGoroutine()
}

func pingMsg(id uint64) *msg.Msg {
	return &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: id}
}

// waitDone waits for the client's goroutines to finish.
func waitDone(t testing.TB, c *Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("client not done; running:\n%s", strings.Join(leaked(), "\n\n"))
	}
}

// jsonOfSize returns a JSON string of n bytes (n >= 2), quotes included.
func jsonOfSize(n int) []byte {
	b := bytes.Repeat([]byte("x"), n)
	b[0], b[n-1] = '"', '"'
	return b
}
