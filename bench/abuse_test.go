package bench_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// TestAbuseRSS runs the eddy binary and the cheap attacks of
// docs/security.md against it, one after the other, and checks that the
// server's peak resident memory (VmHWM) stays under 200 MB and that a
// well-behaved client is served meanwhile (its slowest round trip is
// logged, not asserted: the machine may be loaded). It builds cmd/eddy
// (or runs $EDDY_ABUSE_BIN), so -short skips it.
func TestAbuseRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	bin := os.Getenv("EDDY_ABUSE_BIN") // another build to compare with
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "eddy")
		build := exec.Command("go", "build", "-o", bin, "github.com/eddy-realtime/eddy/cmd/eddy")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			t.Fatal(err)
		}
	}
	tcpAddr, wsAddr, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "start", "-tcp-addr", tcpAddr, "-ws-addr", wsAddr, "-http-addr", httpAddr,
		"-set", "store.engine=memory", "-set", "session.handshakeTimeout=2s", "-set", "http.timeout=2s", "-log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", tcpAddr); err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not listen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	good := dialTCP(t, tcpAddr)
	login(t, good)
	var slowest time.Duration
	check := func(stage string) {
		t.Helper()
		begin := time.Now()
		roundTrip(t, good)
		slowest = max(slowest, time.Since(begin))
		hwm := statusKB(t, cmd.Process.Pid, "VmHWM")
		t.Logf("%s: peak RSS %d MiB, the other client's round trip %v", stage, hwm>>10, time.Since(begin))
		if hwm > 200<<10 {
			t.Fatalf("%s: peak RSS %d MiB, over 200 MiB", stage, hwm>>10)
		}
	}
	check("start")

	// 192 MiB of pings before login, never reading.
	c := dialTCP(t, wsAddr)
	key := ws.NewKey()
	write(t, c, ws.AppendRequest(nil, wsAddr, "/", key, false, nil))
	mask := [4]byte{1, 2, 3, 4}
	ping := ws.AppendFrame(nil, ws.OpPing, make([]byte, 125), false, &mask)
	batch := make([]byte, 0, 64<<10)
	for len(batch)+len(ping) <= cap(batch) {
		batch = append(batch, ping...)
	}
	_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for sent := 0; sent < 192<<20; sent += len(batch) {
		if _, err := c.Write(batch); err != nil {
			break // closed as a slow consumer
		}
		if sent%(8<<20) == 0 {
			roundTrip(t, good)
		}
	}
	check("ping flood")
	_ = c.Close()

	// 2,000 partial WebSocket upgrades and 1,000 slow POST /api bodies.
	var held []net.Conn
	for range 2000 {
		s := dialTCP(t, wsAddr)
		write(t, s, []byte("GET / HTTP/1.1\r\nHost: x\r\n"))
		held = append(held, s)
	}
	for range 1000 {
		s := dialTCP(t, httpAddr)
		write(t, s, []byte("POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"body\":["))
		held = append(held, s)
	}
	check("partial upgrades and slow bodies")
	for _, s := range held {
		_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadAll(s); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a partial upgrade or slow body was not closed within 30s")
			}
		}
		_ = s.Close()
	}
	check("after they were closed")

	// Patches whose 512 steps of [1000000] would build 2.5 GB each.
	p := dialTCP(t, tcpAddr)
	login(t, p)
	path := "a" + strings.Repeat("[1000000]", 511)
	for i := range 20 {
		send(t, p, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: uint64(i + 1), Name: "far/" + strconv.Itoa(i), Path: path, Data: []byte(`1`), Flags: fb.FlagsForced})
	}
	for range 20 {
		v := next(t, p)
		if v.Action() != fb.ActionError || protocol.Code(v.Code()) != protocol.CodeDocumentTooLarge {
			t.Fatalf("far-index patch: action %v code %v", v.Action(), protocol.Code(v.Code()))
		}
	}
	check("far-index patches")
	t.Logf("the other client's slowest round trip: %v", slowest)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type rawConn struct {
	net.Conn
	r   *bufio.Reader
	buf []byte
	v   msg.View
}

func dialTCP(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func send(t *testing.T, c *rawConn, m *msg.Msg) {
	t.Helper()
	write(t, c, frame.Append(nil, msg.Append(nil, m)))
}

// next returns the next message that is not a server ping.
func next(t *testing.T, c *rawConn) *msg.View {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			t.Fatal(err)
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16 | int(hdr[3])<<24
		c.buf = append(c.buf[:0], make([]byte, n)...)
		if _, err := io.ReadFull(c.r, c.buf); err != nil {
			t.Fatal(err)
		}
		if err := c.v.Reset(c.buf); err != nil {
			t.Fatal(err)
		}
		if c.v.Topic() == fb.TopicConnection && c.v.Action() == fb.ActionPing {
			continue
		}
		return &c.v
	}
}

func login(t *testing.T, c *rawConn) {
	t.Helper()
	send(t, c, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
	if v := next(t, c); v.Action() != fb.ActionHandshakeAck {
		t.Fatalf("handshake: %v", v.Action())
	}
	send(t, c, &msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1})
	if v := next(t, c); v.Action() != fb.ActionLoginResult || v.Code() != 0 {
		t.Fatalf("login: %v %d", v.Action(), v.Code())
	}
}

var trips uint64

// roundTrip subscribes the client to an event name and waits for the ack.
func roundTrip(t *testing.T, c *rawConn) {
	t.Helper()
	trips++
	send(t, c, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: trips + 100, Name: "alive"})
	if v := next(t, c); v.Action() != fb.ActionAck {
		t.Fatalf("round trip: %v", v.Action())
	}
}

// statusKB reads a "kB" field of /proc/<pid>/status.
func statusKB(t *testing.T, pid int, field string) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n
			}
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
