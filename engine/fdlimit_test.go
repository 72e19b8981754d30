package engine_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// TestHelperServerProcess is the server of the descriptor tests, in a
// process of its own so its descriptor limit is not the test's. It runs only
// when EDDY_HELPER_NOFILE is set: it lowers RLIMIT_NOFILE to that, starts a
// server, prints its addresses and then obeys commands on stdin:
//
//	hog   open /dev/null until the descriptor table is full
//	free  close what hog opened
//	stat  print the eddy_accept_errors_total counter
func TestHelperServerProcess(t *testing.T) {
	limit := os.Getenv("EDDY_HELPER_NOFILE")
	if limit == "" {
		t.Skip("the server process of the descriptor tests")
	}
	n, err := strconv.ParseUint(limit, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}); err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, on(os.Getenv("EDDY_HELPER_BACKEND"), nil))
	fmt.Printf("addrs %s %s %s\n", srv.TCPAddr(), srv.WSAddr(), srv.HTTPAddr())
	var hogs []*os.File
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "hog":
			for {
				f, err := os.Open(os.DevNull)
				if err != nil {
					break
				}
				hogs = append(hogs, f)
			}
			fmt.Println("hogged", len(hogs))
		case "free":
			for _, f := range hogs {
				_ = f.Close()
			}
			hogs = nil
			fmt.Println("freed")
		case "stat":
			var v float64
			fams, _ := srv.Metrics().Registry().Gather()
			for _, f := range fams {
				if f.GetName() == "eddy_accept_errors_total" {
					v = f.GetMetric()[0].GetCounter().GetValue()
				}
			}
			fmt.Println("accept_errors", v)
		}
	}
}

// helperServer runs TestHelperServerProcess with descriptor limit nofile.
type helperServer struct {
	t              *testing.T
	stdin          io.WriteCloser
	lines          chan string
	tcp, ws, httpA string
}

func startHelper(t *testing.T, backend string, nofile int) *helperServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServerProcess$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "EDDY_HELPER_NOFILE="+strconv.Itoa(nofile), "EDDY_HELPER_BACKEND="+backend)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperServer{t: t, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the helper shuts its server down and exits
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the helper server did not exit")
		}
	})
	f := strings.Fields(h.line("addrs"))
	h.tcp, h.ws, h.httpA = f[1], f[2], f[3]
	return h
}

// line returns the next output line starting with prefix (others are skipped).
func (h *helperServer) line(prefix string) string {
	h.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("the helper server exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			h.t.Fatalf("the helper server did not print %q", prefix)
		}
	}
}

func (h *helperServer) command(cmd, reply string) string {
	h.t.Helper()
	if _, err := io.WriteString(h.stdin, cmd+"\n"); err != nil {
		h.t.Fatal(err)
	}
	return h.line(reply)
}

// alive checks that c's session still answers requests.
func alive(t *testing.T, c *enginetest.Client, id uint64) {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: id, Name: "alive"})
	if v := c.Expect(fb.TopicEvent, fb.ActionAck); v.Id() != id {
		t.Fatalf("ack for %d, want %d", v.Id(), id)
	}
}

// probe keeps one connection to the helper server alive between health checks.
var probe = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

func health(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := probe.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDescriptorLimit runs a server whose RLIMIT_NOFILE is 256: the
// connection limit it derives (256 less a reserve of 128) is refused
// cleanly past it, and running out of descriptors altogether is waited out
// without losing a connection or the listeners.
func TestDescriptorLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		h := startHelper(t, backend, 256)
		const budget = 256 - 128
		var open []*enginetest.Client
		for range budget - 1 { // one socket is left for the HTTP probes below
			open = append(open, enginetest.DialTCP(t, h.tcp).Open())
		}
		// The probe's keep-alive connection is the last socket: past it, TCP
		// gets an Eddy Close and WebSocket a 503, and the server keeps the
		// descriptors it needs.
		if code, body := health(t, h.httpA); code != 200 || !strings.Contains(body, `"serving"`) {
			t.Fatalf("health %d %s", code, body)
		}
		for range 5 {
			c := enginetest.DialTCP(t, h.tcp)
			if code := c.ExpectClose(); code != protocol.CodeTooManyConnections {
				t.Fatalf("connection past the limit: close code %v, want TooManyConnections", code)
			}
		}
		raw, err := net.Dial("tcp", h.ws)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := raw.Write(ws.AppendRequest(nil, h.ws, "/", ws.NewKey(), false, nil)); err != nil {
			t.Fatal(err)
		}
		status, _ := bufio.NewReader(raw).ReadString('\n')
		if !strings.HasPrefix(status, "HTTP/1.1 503") {
			t.Fatalf("WebSocket past the limit: %q, want a 503", status)
		}
		for i, c := range open[:4] {
			alive(t, c, uint64(i+10))
		}
		// Closing sessions frees room for new ones.
		for _, c := range open[len(open)-3:] {
			_ = c.Conn().Close()
		}
		open = open[:len(open)-3]
		deadline := time.Now().Add(20 * time.Second)
		for {
			c := enginetest.DialTCP(t, h.tcp)
			c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
			v, err := c.Next()
			if err == nil && v.Action() == fb.ActionHandshakeAck {
				c.Login("")
				open = append(open, c)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no room for a new session after closing three")
			}
		}

		// Out of descriptors: accepting fails and is retried; nobody is
		// dropped, and the pending client is served once descriptors free up.
		h.command("hog", "hogged")
		pending := enginetest.DialTCP(t, h.tcp)
		pending.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
		for deadline := time.Now().Add(20 * time.Second); ; {
			if n, _ := strconv.ParseFloat(strings.Fields(h.command("stat", "accept_errors"))[1], 64); n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the server never failed to accept with its descriptor table full")
			}
		}
		for i, c := range open {
			alive(t, c, uint64(i+100))
		}
		h.command("free", "freed")
		pending.Timeout = 20 * time.Second
		pending.Expect(fb.TopicConnection, fb.ActionHandshakeAck)
		pending.Login("")
		alive(t, pending, 1)
		if code, body := health(t, h.httpA); code != 200 || !strings.Contains(body, `"serving"`) {
			t.Fatalf("health after running out of descriptors: %d %s", code, body)
		}
	})
}
