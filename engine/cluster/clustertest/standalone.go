package clustertest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Start is StartNATS outside a test (the load generator's cluster
// scenario): it starts n NATS servers forming one cluster on loopback and
// returns an error where StartNATS would fail the test. Stop the servers
// and remove their stores with Stop. On a NATS made by Start, a later
// failure that would fail a test (Restart of a server that does not come
// back) panics instead.
func Start(n int) (c *NATS, err error) {
	tb := &standaloneTB{}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(standaloneFatal)
			if !ok {
				panic(r)
			}
			tb.cleanup()
			c, err = nil, fmt.Errorf("clustertest: %s", string(f))
		}
	}()
	return StartNATS(tb, n), nil
}

// Stop stops every server and, for a NATS made by Start, removes what it
// left on disk. A NATS made by StartNATS is also stopped when its test
// ends.
func (c *NATS) Stop() {
	c.Shutdown()
	if tb, ok := c.t.(*standaloneTB); ok {
		tb.cleanup()
	}
}

// standaloneFatal is the panic value of a standaloneTB's Fatal.
type standaloneFatal string

// standaloneTB is the part of testing.TB that StartNATS and the NATS
// methods use, for Start. Any other method panics (the embedded
// interface is nil).
type standaloneTB struct {
	testing.TB

	mu       sync.Mutex
	cleanups []func()
}

func (*standaloneTB) Helper() {}

func (*standaloneTB) Fatal(args ...any) { panic(standaloneFatal(fmt.Sprint(args...))) }

func (*standaloneTB) Fatalf(format string, args ...any) {
	panic(standaloneFatal(fmt.Sprintf(format, args...)))
}

func (*standaloneTB) Errorf(format string, args ...any) {
	panic(standaloneFatal(fmt.Sprintf(format, args...)))
}

func (*standaloneTB) Logf(string, ...any) {}

func (tb *standaloneTB) TempDir() string {
	dir, err := os.MkdirTemp("", "eddy-nats-")
	if err != nil {
		tb.Fatalf("temporary directory: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (tb *standaloneTB) Cleanup(f func()) {
	tb.mu.Lock()
	tb.cleanups = append(tb.cleanups, f)
	tb.mu.Unlock()
}

// cleanup runs the cleanups registered so far, last first, once each.
func (tb *standaloneTB) cleanup() {
	tb.mu.Lock()
	fs := tb.cleanups
	tb.cleanups = nil
	tb.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
