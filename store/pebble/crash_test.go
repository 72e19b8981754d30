package pebble

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"

	"github.com/eddy-realtime/eddy/store"
	"github.com/eddy-realtime/eddy/store/storetest"
)

// The crash tests re-run the test binary as a child process that writes to
// a store and prints one line per acknowledged write; the parent kills it
// (or lets it die) and then checks the directory.
const (
	childEnv    = "EDDY_STORE_PEBBLE_CHILD" // "<mode>:<dir>"
	crashNames  = 64
	crashWriter = 8
)

// child runs the child side when the test binary was started as one, and
// reports whether it did.
func child(t *testing.T, mode string) bool {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return false
	}
	m, dir, _ := strings.Cut(v, ":")
	if m != mode {
		t.Skip("child of another test")
	}
	switch mode {
	case "crash":
		crashChild(dir)
	case "walfail":
		walFailChild(dir)
	}
	os.Exit(0)
	return true
}

var outMu sync.Mutex

func printLine(line []byte) {
	outMu.Lock()
	os.Stdout.Write(line)
	outMu.Unlock()
}

// crashValue is the document stored for name at version: its size varies so
// that raw and compressed values both occur, and it names its version.
func crashValue(name string, version int64) []byte {
	b := []byte(`{"name":` + strconv.Quote(name) + `,"v":` + strconv.FormatInt(version, 10) + `,"pad":`)
	b = append(b, storetest.SampleJSON(int(version%7)*300, uint64(version))...)
	return append(b, '}')
}

// crashChild writes forever from crashWriter goroutines, each owning
// crashNames/crashWriter names with growing versions, keeping at most 64
// writes unacknowledged; every acknowledgement prints "name version".
func crashChild(dir string) {
	db, err := Open(dir, store.Options{})
	if err != nil {
		printLine([]byte("ERR " + err.Error() + "\n"))
		return
	}
	for g := range crashWriter {
		go func() {
			sem := make(chan struct{}, 64)
			for i := int64(0); ; i++ {
				name := fmt.Sprintf("crash/%02d", g+crashWriter*int(i%(crashNames/crashWriter)))
				version := i + 1
				sem <- struct{}{}
				db.Put(name, version, crashValue(name, version), func(err error) {
					if err != nil {
						printLine([]byte("ERR " + err.Error() + "\n"))
					} else {
						printLine(fmt.Appendf(nil, "%s %d\n", name, version))
					}
					<-sem
				})
			}
		}()
	}
	select {}
}

// startChild starts the test binary as the child of test in mode.
func startChild(t *testing.T, test, mode, dir string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode+":"+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, &stderr
}

// TestCrashKeepsAckedWrites kills the writing child with SIGKILL in the
// middle of its stream and checks that every write it acknowledged is on
// disk: each name holds at least the newest version acknowledged for it,
// with that version's document.
func TestCrashKeepsAckedWrites(t *testing.T) {
	if child(t, "crash") {
		return
	}
	for _, killAfter := range []int{200, 3000, 12000} {
		t.Run(strconv.Itoa(killAfter), func(t *testing.T) { crashOnce(t, killAfter) })
	}
}

func crashOnce(t *testing.T, killAfter int) {
	dir := t.TempDir()
	cmd, stdout, stderr := startChild(t, "TestCrashKeepsAckedWrites", "crash", dir)
	acked := map[string]int64{}
	lines := 0
	sc := bufio.NewScanner(stdout)
	// Kill after killAfter acknowledgements, or after 1.5 s on a slow
	// machine once at least 50 came; a child stuck without any is killed
	// at 10 s and fails the test.
	var killed atomic.Bool
	kill := func() {
		if !killed.Swap(true) {
			cmd.Process.Kill()
		}
	}
	defer kill() // on an early failure, too
	deadline := time.Now().Add(1500 * time.Millisecond)
	hard := time.AfterFunc(10*time.Second, kill)
	defer hard.Stop()
	// The scanner only yields complete lines; a line cut by the kill was
	// never fully printed, so its write is not counted as acknowledged.
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ERR ") {
			t.Errorf("child: %s", line)
			continue
		}
		name, v, ok := strings.Cut(line, " ")
		version, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("child printed %q", line)
		}
		acked[name] = max(acked[name], version)
		if lines++; lines == killAfter || (lines >= 50 && time.Now().After(deadline)) {
			kill() // mid-stream: writes are queued and batches in flight
		}
	}
	err := cmd.Wait()
	if !killed.Load() {
		t.Fatalf("child ended by itself: %v\n%s", err, stderr)
	}
	if lines < 50 {
		t.Fatalf("child acknowledged only %d writes in 10 s\n%s", lines, stderr)
	}

	db := openT(t, dir, store.Options{})
	defer db.Close()
	for name, want := range acked {
		r, err := db.Get(name)
		if err != nil {
			t.Fatalf("%s acknowledged at version %d, after the crash: %v", name, want, err)
		}
		if r.Version < want {
			t.Fatalf("%s acknowledged at version %d, stored version %d", name, want, r.Version)
		}
		if !bytes.Equal(r.Data, crashValue(name, r.Version)) {
			t.Fatalf("%s: stored document does not match its version %d", name, r.Version)
		}
	}
	t.Logf("%d acknowledged writes over %d names survived SIGKILL", lines, len(acked))
}

// walFailChild writes "before" and syncs it, then makes the WAL fail and
// writes "during". Pebble treats a failed WAL write as fatal: the process
// must end without acknowledging "during".
func walFailChild(dir string) {
	var failing atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if failing.Load() && strings.HasSuffix(path, ".log") && (op == errorfs.OpFileWrite || op == errorfs.OpFileSync) {
			return errorfs.ErrInjected
		}
		return nil
	}))
	db, err := open(dir, store.Options{}, fs, nil)
	if err != nil {
		printLine([]byte("ERR " + err.Error() + "\n"))
		return
	}
	db.Put("before", 1, []byte(`{"v":1}`), nil)
	if err := db.Sync(context.Background()); err != nil {
		printLine([]byte("ERR " + err.Error() + "\n"))
		return
	}
	printLine([]byte("ack before\n"))
	failing.Store(true)
	db.Put("during", 1, []byte(`{"v":1}`), func(err error) {
		printLine(fmt.Appendf(nil, "done during: %v\n", err))
	})
	time.Sleep(5 * time.Second)
	printLine([]byte("still alive\n"))
}

// TestWALFailureIsFatal injects write and sync errors into the WAL under a
// running store. Pebble cannot recover its commit pipeline from that and
// ends the process through Logger.Fatalf; the test checks that it does so
// without a panic and without acknowledging the failed write, and that a
// reopened store has everything acknowledged before.
func TestWALFailureIsFatal(t *testing.T) {
	if child(t, "walfail") {
		return
	}
	dir := t.TempDir()
	cmd, stdout, stderr := startChild(t, "TestWALFailureIsFatal", "walfail", dir)
	out, _ := io.ReadAll(stdout)
	err := cmd.Wait()
	if string(out) != "ack before\n" {
		t.Fatalf("child printed %q, want only the acknowledgement of the write before the failure", out)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("child ended with %v, want exit status 1\n%s", err, stderr)
	}
	if s := stderr.String(); !strings.Contains(s, "store/pebble: pebble: fatal commit error") || strings.Contains(s, "panic") {
		t.Fatalf("child's stderr does not show a clean fatal commit error:\n%s", s)
	}
	db := openT(t, dir, store.Options{})
	defer db.Close()
	if r, err := db.Get("before"); err != nil || r.Version != 1 {
		t.Fatalf("after the failure, Get(before) = %+v, %v", r, err)
	}
}
