package load

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func TestRecordsFanoutAgainstEddy(t *testing.T) {
	srv, err := SpawnEddy(func(o *engine.Options) {
		o.Store.Engine, o.Store.Path = "pebble", t.TempDir()
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sc, err := Lookup("records-fanout")
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]int64{}
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			target, _ := srv.Target(transport)
			p := shortParams()
			p.Pubs, p.Subs = 3, 4
			f, problems, err := sc.Run(context.Background(), target, p)
			if err != nil || len(problems) > 0 {
				t.Fatal(err, problems)
			}
			c := f.Counts
			if c["written"] == 0 || c["delivered"] != c["written"]*uint64(p.Subs) || c["version_mismatch"] != 0 {
				t.Fatalf("counts %v", c)
			}
			if f.Rates["writes"] <= 0 || f.Rates["deliveries"] <= 0 || f.Latency.Samples == 0 || f.Latency.P99 < f.Latency.P50 {
				t.Fatalf("figures %+v", f)
			}
			// Each record's version grew by exactly its writer's writes (the
			// second run continues where the first stopped), and the
			// document holds the paths written.
			var total int64
			for i := 0; i < p.Pubs; i++ {
				name := RecordPrefix + strconv.Itoa(i)
				e := srv.Server().Records().Lookup(name)
				if e == nil {
					t.Fatalf("%s not in memory", name)
				}
				v, doc, ok := e.Snapshot()
				if !ok || v <= versions[name] || !strings.Contains(string(doc), `"position":{"`) {
					t.Fatalf("%s: version %d (before %d), %s", name, v, versions[name], doc)
				}
				total += v - versions[name]
				versions[name] = v
			}
			if uint64(total) != c["written"] {
				t.Fatalf("versions grew by %d, %d written", total, c["written"])
			}
		})
	}
}

// fakeRecords is an in-memory record store with injectable faults, to
// prove records-fanout notices what a broken server would do.
type fakeRecords struct {
	mu      sync.Mutex
	version map[string]int64
	follow  map[string][]func(int64, []byte)
	// fault returns the version to report for delivery n of a change to
	// follower sub, or -2 to drop it.
	fault func(sub int, version int64) int64
}

func (f *fakeRecords) Name() string      { return "fake" }
func (f *fakeRecords) Transport() string { return "mem" }
func (f *fakeRecords) Dial(context.Context) (Client, error) {
	return &fakeRecordClient{fakeClient: fakeClient{confirmed: make(chan struct{}, confirmBuffer)}, f: f}, nil
}

type fakeRecordClient struct {
	fakeClient
	f *fakeRecords
}

func (c *fakeRecordClient) ReadRecord(_ context.Context, name string, deliver func(int64, []byte)) (int64, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if deliver != nil {
		c.f.follow[name] = append(c.f.follow[name], deliver)
	}
	return c.f.version[name], nil
}

func (c *fakeRecordClient) WriteRecord(name, _ string, version int64, value []byte, confirm bool) error {
	c.f.mu.Lock()
	c.f.version[name] = version
	for i, d := range c.f.follow[name] {
		v := version
		if c.f.fault != nil {
			v = c.f.fault(i, version)
		}
		if v != -2 {
			d(v, value)
		}
	}
	c.f.mu.Unlock()
	if confirm {
		c.confirmed <- struct{}{}
	}
	return nil
}

func TestRecordsFanoutReportsBrokenDelivery(t *testing.T) {
	cases := map[string]struct {
		fault func(sub int, version int64) int64
		want  string
	}{
		"healthy":  {nil, ""},
		"gap":      {func(sub int, v int64) int64 { return map[bool]int64{true: -2, false: v}[sub == 1 && v == 17] }, "lost"},
		"mismatch": {func(sub int, v int64) int64 { return map[bool]int64{true: v + 1, false: v}[sub == 0 && v == 9] }, "differs from the version written"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := shortParams()
			p.Pubs, p.Subs, p.Rate = 2, 3, 20000
			p.Drain = 200 * time.Millisecond
			p.Duration = 100 * time.Millisecond
			// Records that already have versions: writes continue from there.
			f := &fakeRecords{version: map[string]int64{RecordPrefix + "0": 5, RecordPrefix + "1": 0}, follow: map[string][]func(int64, []byte){}, fault: tc.fault}
			fig, problems, err := recordsFanout{}.Run(context.Background(), f, p)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(problems, "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("want a problem containing %q, got %q", tc.want, got)
			}
			if tc.want == "" && fig.Counts["written"] != uint64(f.version[RecordPrefix+"0"]-5+f.version[RecordPrefix+"1"]) {
				t.Fatalf("written %d, versions %v", fig.Counts["written"], f.version)
			}
		})
	}
}

func TestRecordsFanoutNeedsRecords(t *testing.T) {
	p := shortParams()
	p.Subs = 1
	_, _, err := recordsFanout{}.Run(context.Background(), &fakeTarget{}, p)
	if err == nil || !strings.Contains(err.Error(), "no records") {
		t.Fatalf("err %v", err)
	}
}

func TestTemplateRefill(t *testing.T) {
	for _, size := range []int{MinPayload, 128, 165, 1000} {
		for _, m := range []msg.Msg{
			{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: "r", Path: "position.x", Version: templateMarker},
			{Topic: fb.TopicRpc, Action: fb.ActionRequest, Name: RPCName, ID: templateMarker},
			{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Flags: fb.FlagsForced | fb.FlagsWantAck, Name: "d", ID: templateMarker},
		} {
			tmpl, err := newTemplate(m, size)
			if err != nil {
				t.Fatalf("size %d %v: %v", size, m.Action, err)
			}
			data, _ := NewPayload(size, 3)
			for _, n := range []uint64{1, 42, 1 << 40} {
				Stamp(data, n, int64(n))
				var v msg.View
				if err := v.Reset(tmpl.fill(data, n)); err != nil {
					t.Fatal(err)
				}
				scalar := v.Id()
				if m.Version == templateMarker {
					scalar = uint64(v.Version())
				}
				if scalar != n || string(v.DataBytes()) != string(data) || string(v.Name()) != m.Name || string(v.Path()) != m.Path || v.Flags() != uint16(m.Flags) {
					t.Fatalf("size %d: got id %d version %d name %q path %q data %q", size, v.Id(), v.Version(), v.Name(), v.Path(), v.DataBytes())
				}
			}
			if tmpl.fits(make([]byte, size+1)) {
				t.Fatal("a template fits data of another length")
			}
		}
	}
	if _, err := newTemplate(msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest}, 10); err == nil {
		t.Fatal("a template without the scalar marker was built")
	}
}
