package main

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// TestKillNineKeepsAcknowledgedWrites runs the real binary, writes with
// acknowledgements from several connections, kills the process with SIGKILL
// mid-stream, restarts it on the same data directory and checks that every
// acknowledged write is there.
func TestKillNineKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "eddy")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)

	srv := startBinary(t, bin, data, addr)
	const writers = 4
	acked := make([]int64, writers) // highest acknowledged counter per record
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := enginetest.DialTCP(t, addr)
			c.Timeout = 2 * time.Second
			c.Open() // before the kill: the server is up
			name := fmt.Sprintf("crash/%d", w)
			sent := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Keep a window of writes in flight.
				var batch []byte
				for i := 0; i < 8; i++ {
					sent++
					batch = frame.Append(batch, msg.Append(nil, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: uint64(sent), Name: name,
						Path: "n", Data: []byte(fmt.Sprint(sent)), Flags: fb.FlagsForced | fb.FlagsWantAck}))
				}
				if _, err := c.Conn().Write(batch); err != nil {
					return // the server died
				}
				for i := 0; i < 8; i++ {
					v, err := c.Next()
					if err != nil {
						return // the server died
					}
					if v.Action() == fb.ActionWriteAck {
						mu.Lock()
						acked[w] = max(acked[w], int64(v.Id()))
						mu.Unlock()
					}
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	close(stop)
	wg.Wait()

	srv = startBinary(t, bin, data, addr)
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }()
	c := enginetest.DialTCP(t, addr).Open()
	total := int64(0)
	for w := 0; w < writers; w++ {
		c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSnapshot, ID: 1, Name: fmt.Sprintf("crash/%d", w)})
		v := c.Expect(fb.TopicRecord, fb.ActionSnapshotResult)
		var n int64
		if _, err := fmt.Sscanf(string(v.DataBytes()), `{"n":%d}`, &n); err != nil {
			t.Fatalf("record %d: %s", w, v.DataBytes())
		}
		mu.Lock()
		want := acked[w]
		mu.Unlock()
		if n < want {
			t.Fatalf("record %d: stored n=%d but n=%d was acknowledged", w, n, want)
		}
		total += want
	}
	if total == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}
	t.Logf("acknowledged writes before SIGKILL: %d, all present after restart", total)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startBinary(t *testing.T, bin, data, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "start", "--tcp-addr", addr, "--ws-addr", "off", "--http-addr", "off", "-set", "store.path="+data)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "eddy serving") {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("server exited before serving")
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("server did not start")
	}
	return cmd
}
