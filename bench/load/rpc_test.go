package load

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
)

func TestRPCAgainstEddy(t *testing.T) {
	srv, err := SpawnEddy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sc, err := Lookup("rpc")
	if err != nil {
		t.Fatal(err)
	}
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			target, _ := srv.Target(transport)
			p, _ := Defaults("rpc")
			p.Duration, p.Warmup, p.Drain = 200*time.Millisecond, 50*time.Millisecond, 3*time.Second
			p.Pubs, p.Subs, p.Window = 5, 3, 40
			f, problems, err := sc.Run(context.Background(), target, p)
			if err != nil || len(problems) > 0 {
				t.Fatal(err, problems)
			}
			c := f.Counts
			if c["sent"] == 0 || c["answered"] != c["sent"] || c["unanswered"]+c["failed"]+c["unknown"]+c["bad_payload"] != 0 {
				t.Fatalf("counts %v", c)
			}
			if f.Rates["requests"] <= 0 || f.Latency.Samples == 0 || f.Latency.P99 < f.Latency.P50 {
				t.Fatalf("figures %+v", f)
			}
			deadline := time.Now().Add(5 * time.Second)
			for srv.Server().RPC().Pending() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := srv.Server().RPC().Pending(); n != 0 {
				t.Fatalf("%d requests still pending on the server", n)
			}
		})
	}
	t.Run("fixed rate", func(t *testing.T) {
		target, _ := srv.Target("tcp")
		p, _ := Defaults("rpc")
		p.Duration, p.Warmup, p.Drain = 500*time.Millisecond, 50*time.Millisecond, 3*time.Second
		p.Pubs, p.Subs, p.Window, p.Rate = 4, 2, 40, 200
		start := time.Now()
		f, problems, err := sc.Run(context.Background(), target, p)
		if err != nil || len(problems) > 0 {
			t.Fatal(err, problems)
		}
		checkPaced(t, f.Counts["sent"], p.Rate, time.Since(start), p.Pubs)
	})
}

// checkPaced fails the test when a run paced at rate messages/s from
// senders senders sent more than pacing allows in elapsed, the run's whole
// duration: a paced sender's n-th message is never due before (n-1)
// intervals after the start, so at most rate*elapsed + senders went out.
// Unpaced, even a loaded machine sends several times that much at the low
// rates the tests use. How close a run comes to its rate depends on the
// machine, and is left to the benchmarks.
func checkPaced(t *testing.T, sent uint64, rate float64, elapsed time.Duration, senders int) {
	t.Helper()
	limit := rate*elapsed.Seconds() + float64(senders)
	if sent == 0 || float64(sent) > limit {
		t.Fatalf("paced at %.0f/s, %d sent in %v (at most %.0f allowed)", rate, sent, elapsed, limit)
	}
}

// fakeCalls answers RPC requests and durable writes in memory, with
// injectable faults, to prove the call scenarios notice what a broken
// server would do.
type fakeCalls struct {
	// fault decides, for answer n (counted over the target), what happens:
	// "" answer, "drop", "dup", "corrupt", "fail", "hold" (answer it after
	// the next one).
	fault func(n int) string
	mu    sync.Mutex
	n     int
}

func (f *fakeCalls) Name() string      { return "fake" }
func (f *fakeCalls) Transport() string { return "mem" }
func (f *fakeCalls) Dial(context.Context) (Client, error) {
	return &fakeCallClient{fakeClient: fakeClient{confirmed: make(chan struct{}, confirmBuffer)}, f: f}, nil
}

type fakeCallClient struct {
	fakeClient
	f       *fakeCalls
	onResp  func(uint64, []byte, error)
	onAck   func(uint64, int64, error)
	version int64
	held    func()
}

func (c *fakeCallClient) Provide(context.Context, string) error { return nil }
func (c *fakeCallClient) ExpectResponses(_ context.Context, fn func(uint64, []byte, error)) error {
	c.onResp = fn
	return nil
}

func (c *fakeCallClient) Request(_ string, id uint64, data []byte) error {
	echo := append([]byte(nil), data...)
	c.settle(func() { c.onResp(id, echo, nil) }, func() { echo[offSeq] = '9' },
		func() { c.onResp(id, nil, errors.New("provider failed")) })
	return nil
}

func (c *fakeCallClient) HeadRecord(context.Context, string) (int64, error) { return c.version, nil }
func (c *fakeCallClient) OnWriteAck(fn func(uint64, int64, error))          { c.onAck = fn }
func (c *fakeCallClient) WriteDurable(_ string, id uint64, _ []byte) error {
	c.version++
	v := c.version
	c.settle(func() { c.onAck(id, v, nil) }, func() { v += 10 }, func() { c.onAck(id, 0, errors.New("disk full")) })
	return nil
}

// settle applies the fault for the next answer: answer sends it, corrupt
// spoils it first, fail sends an error instead.
func (c *fakeCallClient) settle(answer, corrupt, fail func()) {
	c.f.mu.Lock()
	c.f.n++
	what := ""
	if c.f.fault != nil {
		what = c.f.fault(c.f.n)
	}
	c.f.mu.Unlock()
	held := c.held
	c.held = nil
	switch what {
	case "drop":
	case "dup":
		answer()
		answer()
	case "corrupt":
		corrupt()
		answer()
	case "fail":
		fail()
	case "hold":
		c.held = answer
	default:
		answer()
	}
	if held != nil {
		held()
	}
}

func TestCallScenariosReportBrokenAnswers(t *testing.T) {
	at := func(k int, what string) func(int) string {
		return func(n int) string {
			if n == k {
				return what
			}
			return ""
		}
	}
	cases := []struct {
		scenario string
		fault    func(int) string
		want     string
	}{
		{"rpc", nil, ""},
		{"rpc", at(30, "drop"), "never answered"},
		{"rpc", at(30, "dup"), "no request in flight"},
		{"rpc", at(30, "corrupt"), "not the request's"},
		{"rpc", at(30, "fail"), "provider failed"},
		{"rpc", at(30, "hold"), ""}, // RPC answers may come in any order
		{"rpc", func(int) string { return "drop" }, "nothing was answered"},
		{"durable-writes", nil, ""},
		{"durable-writes", at(30, "hold"), "out of order"},
		{"durable-writes", at(30, "corrupt"), "out of order"}, // a version that skips
		{"durable-writes", at(30, "fail"), "disk full"},
		{"durable-writes", at(30, "drop"), "never answered"},
	}
	for i, tc := range cases {
		t.Run(tc.scenario+"/"+strconv.Itoa(i), func(t *testing.T) {
			sc, _ := Lookup(tc.scenario)
			p, _ := Defaults(tc.scenario)
			p.Pubs, p.Subs, p.Window, p.Rate = 2, 1, 8, 20000
			p.Duration, p.Warmup, p.Drain = 100*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
			f, problems, err := sc.Run(context.Background(), &fakeCalls{fault: tc.fault}, p)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(problems, "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("want a problem containing %q, got %q", tc.want, got)
			}
			if tc.want == "" && (f.Counts["answered"] == 0 || f.Latency.Samples == 0) {
				t.Fatalf("figures %+v", f)
			}
		})
	}
}

func TestDurableWritesAgainstEddy(t *testing.T) {
	dir := t.TempDir()
	srv, err := SpawnEddy(func(o *engine.Options) { o.Store.Engine, o.Store.Path = "pebble", dir }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	target, _ := srv.Target("tcp")
	p, _ := Defaults("durable-writes")
	p.Duration, p.Warmup, p.Drain = 300*time.Millisecond, 50*time.Millisecond, 3*time.Second
	p.Pubs, p.Window = 4, 64
	// One record per writer (coalesced), twice: the second run continues
	// each record's versions; then 40 records per writer, more than its
	// window of 16.
	var acked uint64
	for run, records := range []int{1, 1, 40} {
		p.Records = records
		f, problems, err := durableWrites{}.Run(context.Background(), target, p)
		if err != nil || len(problems) > 0 {
			t.Fatal(err, problems)
		}
		if f.Counts["writes"] == 0 || f.Counts["answered"] != f.Counts["writes"] || f.Rates["acks"] <= 0 || f.Latency.Samples == 0 {
			t.Fatalf("run %d: figures %+v", run, f)
		}
		acked += f.Counts["answered"]
	}
	// Every acknowledged write is in the store: the versions add up.
	var stored int64
	for i := 0; i < p.Pubs; i++ {
		for _, name := range append(durableNames(i, 1), durableNames(i, 40)...) {
			rec, err := srv.Server().Store().Get(name)
			if err != nil {
				t.Fatal(name, err)
			}
			stored += rec.Version
		}
	}
	if uint64(stored) != acked {
		t.Fatalf("%d writes acknowledged, stored versions add up to %d", acked, stored)
	}
}

func TestDurableWritesHasNoNATSBaseline(t *testing.T) {
	p, _ := Defaults("durable-writes")
	_, _, err := durableWrites{}.Run(context.Background(), &fakeTarget{}, p)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err %v, want ErrUnsupported", err)
	}
}
