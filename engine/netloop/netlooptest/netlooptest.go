// Package netlooptest is the conformance suite every netloop back-end
// passes: it starts the back-end with a small echo handler on 127.0.0.1 and
// checks framing across arbitrary splits, ordering of concurrent sends,
// wake-ups, slow peers and shutdown, below the session layer.
//
// Use from a back-end's tests: netlooptest.Run(t, start). Each test starts
// its own engine and stops it when it ends.
package netlooptest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/protocol"
)

// StartFunc starts a back-end serving srv.
type StartFunc func(srv *netloop.Server) (netloop.Engine, error)

// Run runs every conformance test against start.
func Run(t *testing.T, start StartFunc) {
	t.Run("echo across every split", func(t *testing.T) { testSplits(t, start) })
	t.Run("concurrent sends keep each sender's order", func(t *testing.T) { testConcurrentSends(t, start) })
	t.Run("posted tasks run on the loop", func(t *testing.T) { testPost(t, start) })
	t.Run("close waits for queued bytes", func(t *testing.T) { testCloseAfterQueue(t, start) })
	t.Run("a peer that does not read is closed", func(t *testing.T) { testStalledPeer(t, start) })
	t.Run("stop closes every connection", func(t *testing.T) { testStop(t, start) })
}

// handler echoes every message and runs commands:
//
//	"flood G N S" G goroutines each Send N messages of S bytes (at least 8)
//	             starting with the goroutine's and the message's index;
//	"bye"        CloseWith after queueing "bye" back;
//	"post"       a Post from another goroutine that Sends "posted" on the loop.
type handler struct {
	opened, closed atomic.Int32
	mu             sync.Mutex
	conns          []*netloop.Conn
	// onLoop is set while a Handler method or posted task runs for a
	// connection, to catch two goroutines inside one connection's loop state.
	busy sync.Map // *netloop.Conn -> *atomic.Int32
}

func (h *handler) counter(c *netloop.Conn) *atomic.Int32 {
	if v, ok := h.busy.Load(c); ok {
		return v.(*atomic.Int32)
	}
	v, _ := h.busy.LoadOrStore(c, new(atomic.Int32))
	return v.(*atomic.Int32)
}

func (h *handler) enter(c *netloop.Conn) {
	if h.counter(c).Add(1) != 1 {
		panic("netlooptest: two goroutines in one connection's loop")
	}
}

func (h *handler) leave(c *netloop.Conn) { h.counter(c).Add(-1) }

func (h *handler) OnOpen(c *netloop.Conn) error {
	h.enter(c)
	defer h.leave(c)
	h.opened.Add(1)
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	return nil
}

func (h *handler) OnMessage(c *netloop.Conn, p []byte) {
	h.enter(c)
	defer h.leave(c)
	switch {
	case bytes.HasPrefix(p, []byte("flood ")):
		var g, n, size int
		if _, err := fmt.Sscanf(string(p), "flood %d %d %d", &g, &n, &size); err != nil || size < 8 {
			panic(fmt.Sprintf("netlooptest: bad command %q", p))
		}
		for i := 0; i < g; i++ {
			go func() {
				m := make([]byte, size)
				for j := 0; j < n; j++ {
					binary.LittleEndian.PutUint32(m[:4], uint32(i))
					binary.LittleEndian.PutUint32(m[4:], uint32(j))
					if c.Send(m) == netloop.ErrClosed {
						return
					}
				}
			}()
		}
	case string(p) == "bye":
		_ = c.Send(p)
		c.CloseWith(protocol.CodeNormalClose, "bye")
	case string(p) == "post":
		go func() {
			_ = c.Post(func() {
				h.enter(c)
				defer h.leave(c)
				_ = c.Send([]byte("posted"))
			})
		}()
	default:
		_ = c.Send(p)
	}
}

func (h *handler) OnClose(c *netloop.Conn, err error) {
	h.enter(c)
	defer h.leave(c)
	h.closed.Add(1)
}

func serve(t *testing.T, start StartFunc, opts netloop.Options) (*handler, netloop.Engine, string) {
	t.Helper()
	h := &handler{}
	srv := &netloop.Server{Handler: h, Options: opts, Listeners: []netloop.Listener{{Kind: netloop.TCP, Addr: "127.0.0.1:0"}}}
	eng, err := start(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return h, eng, eng.Addrs()[0].String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// reader reads frames from a connection.
type reader struct {
	c   net.Conn
	buf []byte
}

func (r *reader) next() ([]byte, error) {
	for {
		p, n, err := frame.Next(r.buf, 1<<20)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out := append([]byte(nil), p...)
			r.buf = r.buf[n:]
			return out, nil
		}
		var tmp [32 << 10]byte
		m, err := r.c.Read(tmp[:])
		r.buf = append(r.buf, tmp[:m]...)
		if m == 0 && err != nil {
			return nil, err
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testSplits(t *testing.T, start StartFunc) {
	_, _, addr := serve(t, start, netloop.Options{})
	c := dial(t, addr)
	r := &reader{c: c}
	var stream []byte
	var want [][]byte
	for i := 0; i < 20; i++ {
		p := bytes.Repeat([]byte{byte('a' + i)}, i*37+1)
		want = append(want, p)
		stream = frame.Append(stream, p)
	}
	stream = frame.Append(stream, bytes.Repeat([]byte("z"), 200<<10)) // grows any read buffer
	want = append(want, bytes.Repeat([]byte("z"), 200<<10))
	// One byte per write for the small frames, then the rest at once.
	for i := 0; i < 2000 && i < len(stream); i++ {
		if _, err := c.Write(stream[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(stream[2000:]); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		got, err := r.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(w))
		}
	}
}

func testConcurrentSends(t *testing.T, start StartFunc) {
	const g, n = 8, 2000
	_, _, addr := serve(t, start, netloop.Options{MaxQueue: 64 << 20})
	c := dial(t, addr)
	r := &reader{c: c}
	if _, err := c.Write(frame.Append(nil, []byte(fmt.Sprintf("flood %d %d 8", g, n)))); err != nil {
		t.Fatal(err)
	}
	var next [g]uint32
	for k := 0; k < g*n; k++ {
		p, err := r.next()
		if err != nil {
			t.Fatalf("after %d messages: %v", k, err)
		}
		if len(p) != 8 {
			t.Fatalf("message %d: %q", k, p)
		}
		gi, j := binary.LittleEndian.Uint32(p[:4]), binary.LittleEndian.Uint32(p[4:])
		if gi >= g || j != next[gi] {
			t.Fatalf("sender %d: got %d, want %d", gi, j, next[gi])
		}
		next[gi]++
	}
}

func testPost(t *testing.T, start StartFunc) {
	_, _, addr := serve(t, start, netloop.Options{})
	c := dial(t, addr)
	r := &reader{c: c}
	for i := 0; i < 50; i++ {
		if _, err := c.Write(frame.Append(nil, []byte("post"))); err != nil {
			t.Fatal(err)
		}
		if p, err := r.next(); err != nil || string(p) != "posted" {
			t.Fatalf("post %d: %q %v", i, p, err)
		}
	}
}

func testCloseAfterQueue(t *testing.T, start StartFunc) {
	h, _, addr := serve(t, start, netloop.Options{})
	c := dial(t, addr)
	r := &reader{c: c}
	big := bytes.Repeat([]byte("q"), 512<<10)
	for i := 0; i < 4; i++ {
		if _, err := c.Write(frame.Append(nil, big)); err != nil {
			t.Fatal(err)
		}
		p, err := r.next()
		if err != nil || !bytes.Equal(p, big) {
			t.Fatalf("echo %d: %d bytes, %v", i, len(p), err)
		}
	}
	// "bye" is queued, then CloseWith queues a Close message and closes.
	if _, err := c.Write(frame.Append(nil, []byte("bye"))); err != nil {
		t.Fatal(err)
	}
	if p, err := r.next(); err != nil || string(p) != "bye" {
		t.Fatalf("want bye, got %q %v", p, err)
	}
	if p, err := r.next(); err != nil || len(p) == 0 {
		t.Fatalf("want the Close message, got %q %v", p, err)
	}
	if p, err := r.next(); err != io.EOF && !isReset(err) {
		t.Fatalf("want the connection closed, got %q %v", p, err)
	}
	waitFor(t, "OnClose", func() bool { return h.closed.Load() == 1 })
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func testStalledPeer(t *testing.T, start StartFunc) {
	h, _, addr := serve(t, start, netloop.Options{MaxQueue: 1 << 20})
	c := dial(t, addr)
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	// 64 MiB for a peer that reads nothing: the queue overflows and the
	// connection is closed as a slow consumer, whatever the kernel buffers.
	if _, err := c.Write(frame.Append(nil, []byte("flood 2 512 65536"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stalled peer's OnClose", func() bool { return h.closed.Load() == 1 })
}

func testStop(t *testing.T, start StartFunc) {
	h := &handler{}
	srv := &netloop.Server{Handler: h, Listeners: []netloop.Listener{{Kind: netloop.TCP, Addr: "127.0.0.1:0"}, {Kind: netloop.WebSocket, Addr: "127.0.0.1:0"}}}
	eng, err := start(srv)
	if err != nil {
		t.Fatal(err)
	}
	addrs := eng.Addrs()
	if len(addrs) != 2 || addrs[0].String() == addrs[1].String() {
		t.Fatalf("addrs %v", addrs)
	}
	idle := dial(t, addrs[0].String())
	half := dial(t, addrs[0].String())
	hdr := frame.AppendHeader(nil, 100)
	if _, err := half.Write(append(hdr, "only part of it"...)); err != nil {
		t.Fatal(err)
	}
	ws := dial(t, addrs[1].String()) // upgrade never sent: not opened
	_, _ = ws.Write([]byte("GET / HTTP/1.1\r\n"))
	waitFor(t, "two opened connections", func() bool { return h.opened.Load() == 2 })
	time.Sleep(50 * time.Millisecond) // let the half frame reach the server
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := eng.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("stop took %v", d)
	}
	if got := h.closed.Load(); got != 2 {
		t.Fatalf("OnClose ran %d times, want 2", got)
	}
	for _, c := range []net.Conn{idle, half, ws} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !isReset(err) {
			t.Fatalf("connection not closed: %v", err)
		}
	}
	if c, err := net.DialTimeout("tcp", addrs[0].String(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("still accepting after Stop")
	}
}
