package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func shortParams() Params {
	p := DefaultParams()
	p.Duration = 200 * time.Millisecond
	p.Warmup = 50 * time.Millisecond
	p.Drain = 3 * time.Second
	return p
}

func TestEventsFanoutAgainstEddy(t *testing.T) {
	srv, err := SpawnEddy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	sc, err := Lookup("events-fanout")
	if err != nil {
		t.Fatal(err)
	}
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			target, err := srv.Target(transport)
			if err != nil {
				t.Fatal(err)
			}
			p := shortParams()
			p.Pubs, p.Subs = 2, 5
			f, problems, err := sc.Run(context.Background(), target, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			c := f.Counts
			if c["published"] == 0 || c["delivered"] != c["published"]*uint64(p.Subs) {
				t.Fatalf("published %d, delivered %d to %d subscribers", c["published"], c["delivered"], p.Subs)
			}
			if f.Rates["deliveries"] <= 0 || f.Rates["publishes"] <= 0 || f.Latency.Samples == 0 || f.Latency.P50 <= 0 || f.Latency.P99 < f.Latency.P50 {
				t.Fatalf("figures %+v", f)
			}
			// Closing is asynchronous on the server: give it a moment.
			deadline := time.Now().Add(5 * time.Second)
			for srv.Server().Events().Count(FanoutEvent) != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := srv.Server().Events().Count(FanoutEvent); n != 0 {
				t.Fatalf("%d subscriptions left on the server after the run", n)
			}
		})
	}
	t.Run("fixed rate", func(t *testing.T) {
		target, _ := srv.Target("tcp")
		p := shortParams()
		p.Rate = 200
		p.Duration = 500 * time.Millisecond
		start := time.Now()
		f, problems, err := sc.Run(context.Background(), target, p)
		if err != nil || len(problems) > 0 {
			t.Fatal(err, problems)
		}
		checkPaced(t, f.Counts["published"], p.Rate, time.Since(start), p.Pubs)
	})
}

func TestRunWritesJSONLinesAndMedian(t *testing.T) {
	var out, log bytes.Buffer
	p := shortParams()
	p.Subs = 3
	rep, err := Run(context.Background(), Config{Scenario: "events-fanout", Params: p, Spawn: true, Runs: 2, Out: &out, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 runs and a median, got %d lines:\n%s", len(lines), out.String())
	}
	var last Result
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Kind != "median" || last.Runs != 2 || last.Target != "eddy" || last.Transport != "tcp" || last.Machine.Cores == 0 || last.Machine.Go == "" {
		t.Fatalf("median line %s", lines[2])
	}
	if rep.Medians["eddy"].Figures.Rates["deliveries"] <= 0 {
		t.Fatalf("median %+v", rep.Medians["eddy"])
	}
	if !strings.Contains(lines[0], `"duration":"200ms"`) {
		t.Fatalf("params not in the line: %s", lines[0])
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	p := shortParams()
	for name, cfg := range map[string]Config{
		"no target":           {Scenario: "events-fanout", Params: p},
		"both targets":        {Scenario: "events-fanout", Params: p, Spawn: true, Addr: "127.0.0.1:1"},
		"unknown scenario":    {Scenario: "nope", Params: p, Spawn: true},
		"profile needs spawn": {Scenario: "events-fanout", Params: p, Addr: "127.0.0.1:1", CPUProfile: "x"},
		"bad baseline":        {Scenario: "events-fanout", Params: p, Spawn: true, Baseline: "redis"},
		"bad scheme":          {Scenario: "events-fanout", Params: p, Addr: "http://127.0.0.1:1"},
		"tiny payload":        {Scenario: "events-fanout", Params: func() Params { q := p; q.Size = 10; return q }(), Spawn: true},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNATSBaseline(t *testing.T) {
	if _, err := FindNATS(); err != nil {
		t.Skip(err)
	}
	srv, err := SpawnNATS(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := shortParams()
	p.Subs = 3
	f, problems, err := eventsFanout{}.Run(context.Background(), srv.Target(), p)
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	if f.Counts["delivered"] != 3*f.Counts["published"] || f.Counts["published"] == 0 {
		t.Fatalf("counts %v", f.Counts)
	}
}

// fakeTarget is an in-memory pub/sub with injectable faults, to prove the
// scenario notices what a broken server would do.
type fakeTarget struct {
	mu     sync.Mutex
	subs   []func([]byte)
	fault  func(sub int, n uint64, data []byte) (deliver int) // how many copies to deliver
	counts []uint64
}

func (f *fakeTarget) Name() string      { return "fake" }
func (f *fakeTarget) Transport() string { return "mem" }
func (f *fakeTarget) Dial(context.Context) (Client, error) {
	return &fakeClient{t: f, confirmed: make(chan struct{}, confirmBuffer)}, nil
}

type fakeClient struct {
	t         *fakeTarget
	confirmed chan struct{}
	held      []byte // a message held back to reorder
}

func (c *fakeClient) Subscribe(_ context.Context, _ string, deliver func([]byte)) error {
	c.t.mu.Lock()
	c.t.subs = append(c.t.subs, deliver)
	c.t.counts = append(c.t.counts, 0)
	c.t.mu.Unlock()
	return nil
}

func (c *fakeClient) Publish(_ string, data []byte, confirm bool) error {
	c.t.mu.Lock()
	for i, d := range c.t.subs {
		c.t.counts[i]++
		copies := 1
		if c.t.fault != nil {
			copies = c.t.fault(i, c.t.counts[i], data)
		}
		for k := 0; k < copies; k++ {
			d(data)
		}
	}
	c.t.mu.Unlock()
	if confirm {
		c.confirmed <- struct{}{}
	}
	return nil
}

func (c *fakeClient) Flush() error               { return nil }
func (c *fakeClient) Confirmed() <-chan struct{} { return c.confirmed }
func (c *fakeClient) Err() error                 { return nil }
func (c *fakeClient) Close() error               { return nil }

func TestFanoutReportsBrokenDelivery(t *testing.T) {
	cases := map[string]struct {
		fault func(sub int, n uint64, data []byte) int
		want  string
	}{
		"healthy": {nil, ""},
		"loss":    {func(sub int, n uint64, _ []byte) int { return map[bool]int{true: 0, false: 1}[sub == 1 && n == 5] }, "lost"},
		"dup":     {func(sub int, n uint64, _ []byte) int { return map[bool]int{true: 2, false: 1}[sub == 0 && n == 7] }, "out of order or duplicated"},
		"garbage": {func(sub int, n uint64, data []byte) int {
			if sub == 2 && n == 3 {
				data[offSeq] = 'z'
			}
			return 1
		}, "malformed"},
		"nothing": {func(int, uint64, []byte) int { return 0 }, "nothing was delivered"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := shortParams()
			p.Subs, p.Rate = 3, 20000
			p.Drain = 200 * time.Millisecond
			p.Duration = 100 * time.Millisecond
			_, problems, err := eventsFanout{}.Run(context.Background(), &fakeTarget{fault: tc.fault}, p)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(problems, "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("want a problem containing %q, got %q", tc.want, got)
			}
		})
	}
}

func TestPayloadStampAndRead(t *testing.T) {
	p, err := NewPayload(128, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 128 || !json.Valid(p) {
		t.Fatalf("payload %q", p)
	}
	Stamp(p, 123456789, 987654321012)
	if !json.Valid(p) {
		t.Fatalf("stamped payload %q", p)
	}
	pub, seq, ts, err := ReadPayload(p)
	if err != nil || pub != 42 || seq != 123456789 || ts != 987654321012 {
		t.Fatalf("got %d %d %d %v", pub, seq, ts, err)
	}
	if _, err := NewPayload(MinPayload-1, 0); err == nil {
		t.Fatal("undersized payload accepted")
	}
	for _, bad := range [][]byte{nil, []byte("{}"), bytes.Repeat([]byte("x"), 100), append([]byte(`{"p":"00x0`), p[10:]...)} {
		if _, _, _, err := ReadPayload(bad); !errors.Is(err, errBadPayload) {
			t.Fatalf("%q: err %v", bad, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Stamp(p, 7, Now()); _, _, _, _ = ReadPayload(p) }); n != 0 {
		t.Fatalf("stamp+read allocates %.0f times", n)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	check := func(q float64, want time.Duration) {
		t.Helper()
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.01 || diff < -0.01 {
			t.Errorf("q%.3f = %s, want %s within 1%%", q, got, want)
		}
	}
	check(0.5, 50*time.Millisecond)
	check(0.99, 99*time.Millisecond)
	check(0.999, 99900*time.Microsecond)
	if h.Max() != 100*time.Millisecond || h.Count() != 100000 {
		t.Fatalf("max %s count %d", h.Max(), h.Count())
	}
	var small Histogram
	for i := 0; i < 100; i++ {
		small.Record(time.Duration(i))
	}
	if small.Quantile(0.5) != 49 || small.Quantile(1) != 99 {
		t.Fatalf("exact range: p50 %d p100 %d", small.Quantile(0.5), small.Quantile(1))
	}
	var m Histogram
	m.Merge(&h)
	m.Merge(&small)
	if m.Count() != 100100 || m.Max() != h.Max() {
		t.Fatalf("merge count %d max %s", m.Count(), m.Max())
	}
	for v := uint64(0); v < 1<<40; v = v*3 + 1 {
		i := bucketOf(v)
		if i >= histSize {
			t.Fatalf("value %d -> bucket %d out of range", v, i)
		}
		if mid := bucketValue(i); float64(mid) > float64(v)*1.01+1 || float64(mid) < float64(v)*0.99-1 {
			t.Fatalf("value %d -> bucket %d middle %d", v, i, mid)
		}
	}
	if n := testing.AllocsPerRun(100, func() { h.Record(time.Millisecond) }); n != 0 {
		t.Fatalf("Record allocates %.0f times", n)
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Summary().Samples != 0 {
		t.Fatal("empty histogram")
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct{ in, transport, addr, want string }{
		{"tcp://127.0.0.1:6021", "ws", "127.0.0.1:6021", "tcp"},
		{"ws://127.0.0.1:6020/", "tcp", "127.0.0.1:6020", "ws"},
		{"127.0.0.1:1", "ws", "127.0.0.1:1", "ws"},
	} {
		addr, tr, err := parseAddr(tc.in, tc.transport)
		if err != nil || addr != tc.addr || tr != tc.want {
			t.Errorf("%q: %q %q %v", tc.in, addr, tr, err)
		}
	}
}

func TestMedian(t *testing.T) {
	mk := func(d, p50 float64, lost uint64, problem string) Result {
		r := Result{Kind: "run", Target: "eddy", Figures: Figures{Rates: map[string]float64{"deliveries": d}, Latency: Latency{P50: p50}, Counts: map[string]uint64{"lost": lost}}}
		if problem != "" {
			r.Problems = []string{problem}
		}
		return r
	}
	m := Median([]Result{mk(3, 30, 0, ""), mk(1, 10, 2, "x"), mk(2, 20, 0, "")})
	if m.Kind != "median" || m.Runs != 3 || m.Figures.Rates["deliveries"] != 2 || m.Figures.Latency.P50 != 20 || m.Figures.Counts["lost"] != 2 || len(m.Problems) != 1 {
		t.Fatalf("median %+v", m)
	}
}

// TestEddyConnReadPathDoesNotAllocate feeds a buffer of frames through the
// reader's parsing and dispatch, as the reader goroutine does.
func TestEddyConnReadPathDoesNotAllocate(t *testing.T) {
	payload, _ := NewPayload(128, 0)
	enc := msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: FanoutEvent, Data: payload})
	var stream []byte
	for i := 0; i < 1000; i++ {
		stream = frame.Append(stream, enc)
	}
	got := 0
	ec := &eddyClient{confirmed: make(chan struct{}, 1)}
	deliver := func(d []byte) { got += len(d) }
	ec.deliver.Store(&deliver)
	c := &EddyConn{rbuf: make([]byte, len(stream)), onMessage: ec.onMessage}
	ec.c = c
	allocs := testing.AllocsPerRun(10, func() {
		c.r, c.w = 0, copy(c.rbuf, stream)
		for c.r < c.w {
			p, err := c.nextPayload()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.view.Reset(p); err != nil {
				t.Fatal(err)
			}
			c.onMessage(&c.view)
		}
	})
	if allocs != 0 {
		t.Fatalf("reading 1000 deliveries allocates %.0f times", allocs)
	}
	if got != 11*1000*128 {
		t.Fatalf("delivered %d bytes", got)
	}
}

// discardConn is a net.Conn whose writes vanish (only Write is used).
type discardConn struct {
	net.Conn
	n int
}

func (d *discardConn) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// TestEddyPublishPathDoesNotAllocate stamps and queues publishes as a
// publisher does, over both framings, flushing every 64 KiB.
func TestEddyPublishPathDoesNotAllocate(t *testing.T) {
	for _, useWS := range []bool{false, true} {
		dc := &discardConn{}
		c := &EddyConn{conn: dc, ws: useWS}
		c.wmu.mask = 1
		ec := &eddyClient{c: c, confirmed: make(chan struct{}, 1)}
		payload, _ := NewPayload(128, 0)
		var seq uint64
		publish := func() {
			for i := 0; i < 1000; i++ {
				seq++
				Stamp(payload, seq, Now())
				if err := ec.Publish(FanoutEvent, payload, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := ec.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		publish()
		// AllocsPerRun counts the whole process's allocations, so
		// goroutines an earlier test left winding down (a closed server's,
		// a NATS client's) can add to one measurement. The path's own
		// allocations show in every measurement: take the least of a few.
		least := math.Inf(1)
		for try := 0; try < 5 && least != 0; try++ {
			least = math.Min(least, testing.AllocsPerRun(10, publish))
		}
		if least != 0 {
			t.Fatalf("ws=%v: 1000 publishes allocate %.0f times", useWS, least)
		}
		if dc.n < 11*1000*(128+len(FanoutEvent)) {
			t.Fatalf("ws=%v: only %d bytes written", useWS, dc.n)
		}
	}
}

func TestScenariosAgainstEddyProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/eddy")
	}
	bin := filepath.Join(t.TempDir(), "eddy")
	build := exec.Command("go", "build", "-o", bin, "github.com/eddy-realtime/eddy/cmd/eddy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("events-fanout", func(t *testing.T) {
		var out, log bytes.Buffer
		p := shortParams()
		p.Subs = 3
		rep, err := Run(context.Background(), Config{Scenario: "events-fanout", Params: p, SpawnExec: bin, Transport: "ws", Out: &out, Log: &log})
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		r := rep.Runs["eddy"][0]
		if r.Transport != "ws" || r.Figures.Counts["delivered"] != 3*r.Figures.Counts["published"] || r.Figures.Counts["published"] == 0 {
			t.Fatalf("run %+v", r)
		}
	})
	t.Run("connections", func(t *testing.T) {
		var out, log bytes.Buffer
		p, transport := Defaults("connections")
		p.Conns, p.Duration = 500, 200*time.Millisecond
		rep, err := Run(context.Background(), Config{Scenario: "connections", Params: p, SpawnExec: bin, Transport: transport, Out: &out, Log: &log})
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		f := rep.Runs["eddy"][0].Figures
		// The subprocess's resident memory grew with 500 connections.
		if f.Counts["connected"] != 500 || f.Values["rss_after_mib"] <= f.Values["rss_before_mib"] || f.Values["rss_per_conn_bytes"] <= 0 {
			t.Fatalf("figures %+v", f)
		}
	})
	t.Run("durable-writes", func(t *testing.T) {
		var out, log bytes.Buffer
		p, _ := Defaults("durable-writes")
		p.Pubs, p.Window = 4, 64
		p.Duration, p.Warmup = 200*time.Millisecond, 50*time.Millisecond
		dir := t.TempDir()
		pebbleSeen := make(chan bool, 1)
		go func() { // the subprocess keeps a Pebble store in the temporary directory
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if m, _ := filepath.Glob(filepath.Join(dir, "eddy-bench-store-*", "MANIFEST-*")); len(m) > 0 {
					pebbleSeen <- true
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			pebbleSeen <- false
		}()
		rep, err := Run(context.Background(), Config{Scenario: "durable-writes", Params: p, SpawnExec: bin, StoreDir: dir, Out: &out, Log: &log})
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		if !<-pebbleSeen {
			t.Fatal("no Pebble store appeared")
		}
		if f := rep.Runs["eddy"][0].Figures; f.Counts["answered"] == 0 {
			t.Fatalf("figures %+v", f)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("store left behind: %v", ents)
		}
	})
}

// TestRunFailsWhenTheServerDropsMessages points Run at a server whose
// outbound queues are tiny and drop what does not fit: the losses must
// make Run fail with ErrFailed (what makes `make bench-smoke` fail).
func TestRunFailsWhenTheServerDropsMessages(t *testing.T) {
	srv, err := SpawnEddy(func(o *engine.Options) {
		o.Net.MaxQueue = 2048
		o.Net.SlowConsumer = "drop"
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out, log bytes.Buffer
	p := shortParams()
	p.Subs = 3
	p.Drain = 500 * time.Millisecond
	_, err = Run(context.Background(), Config{Scenario: "events-fanout", Params: p, Addr: "tcp://" + srv.Server().TCPAddr(), Out: &out, Log: &log})
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v, want ErrFailed\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "lost") || !strings.Contains(out.String(), `"problems"`) {
		t.Fatalf("no loss reported:\n%s\n%s", log.String(), out.String())
	}
}
