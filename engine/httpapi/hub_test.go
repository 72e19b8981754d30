package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// memPersister is a record.Persister over a map.
type memPersister struct {
	mu sync.Mutex
	m  map[string][]byte
	v  map[string]int64
}

func newMemPersister() *memPersister {
	return &memPersister{m: map[string][]byte{}, v: map[string]int64{}}
}

func (p *memPersister) Get(name string) (int64, []byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.m[name]
	if !ok {
		return 0, nil, record.ErrNotFound
	}
	return p.v[name], d, nil
}

func (p *memPersister) Put(name string, version int64, data []byte, done func(error)) {
	p.mu.Lock()
	p.m[name], p.v[name] = data, version
	p.mu.Unlock()
	if done != nil {
		done(nil)
	}
}

func (p *memPersister) Delete(name string, done func(error)) {
	p.mu.Lock()
	delete(p.m, name)
	delete(p.v, name)
	p.mu.Unlock()
	if done != nil {
		done(nil)
	}
}

type hubFixture struct {
	h       *hub
	events  *event.Table
	records *record.Table
	wg      sync.WaitGroup
}

func newHubFixture(t testing.TB, history int) *hubFixture {
	t.Helper()
	f := &hubFixture{events: event.New()}
	spawn := func(_ string, fn func()) bool {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); fn() }()
		return true
	}
	f.records = record.New(newMemPersister(), spawn, record.Options{})
	cfg := &Config{Events: f.events, Records: f.records, Go: spawn}
	cfg.Options.SSEHistory = history
	cfg.Options.EnsureDefaults()
	cfg.Logger = slog.Default()
	f.h = newHub(cfg)
	t.Cleanup(func() { f.h.close(); f.wg.Wait() })
	return f
}

func (f *hubFixture) publish(name, data string) {
	payload := msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: name, Data: []byte(data)})
	f.events.Publish([]byte(name), payload, nil)
}

func (f *hubFixture) acquire(t *testing.T, topic fb.Topic, name string) *channel {
	t.Helper()
	c, err := f.h.acquire(context.Background(), chanKey{topic, name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newStream(max int) *stream { return &stream{wake: make(chan struct{}, 1), max: max} }

// bodies returns the data of each entry's body, for comparison.
func bodies(t *testing.T, es []*entry) []string {
	t.Helper()
	var out []string
	for _, e := range es {
		var m struct {
			Data json.RawMessage
		}
		if err := json.Unmarshal(e.body, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(m.Data))
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHubResumeAndGap(t *testing.T) {
	f := newHubFixture(t, 3)
	c := f.acquire(t, fb.TopicEvent, "ticks")
	s := newStream(100)
	start, err := f.h.attach(s, []*channel{c}, position{})
	if err != nil {
		t.Fatal(err)
	}
	if len(start.gaps)+len(start.backlog)+len(start.states) != 0 {
		t.Fatalf("fresh stream got %+v", start)
	}
	for i := 1; i <= 5; i++ {
		f.publish("ticks", strconv.Itoa(i))
	}
	q, overflow, closed := f.h.take(s, nil)
	if got := bodies(t, q); !equal(got, []string{"1", "2", "3", "4", "5"}) || overflow || closed {
		t.Fatalf("live: %v overflow %v closed %v", got, overflow, closed)
	}
	for i := 1; i < len(q); i++ {
		if q[i].seq <= q[i-1].seq {
			t.Fatal("sequence not increasing")
		}
	}
	f.h.detach(s, []*channel{c})

	// History 3: after 5 changes it holds 3, 4, 5.
	for _, tc := range []struct {
		from    uint64
		gap     bool
		backlog []string
	}{
		{q[4].seq, false, nil},
		{q[3].seq, false, []string{"5"}},
		{q[1].seq, false, []string{"3", "4", "5"}},
		{q[0].seq, true, []string{"3", "4", "5"}},
		{q[4].seq + 1000, true, []string{"3", "4", "5"}}, // from the future
	} {
		c := f.acquire(t, fb.TopicEvent, "ticks")
		s := newStream(100)
		start, err := f.h.attach(s, []*channel{c}, position{given: true, valid: true, seq: tc.from})
		if err != nil {
			t.Fatal(err)
		}
		if (start.nGaps == 1) != tc.gap || !equal(bodies(t, start.backlog), tc.backlog) {
			t.Errorf("from %d: gaps %d backlog %v; want gap %v backlog %v", tc.from, start.nGaps, bodies(t, start.backlog), tc.gap, tc.backlog)
		}
		f.h.detach(s, []*channel{c})
	}

	// An id of another run is a gap.
	if p := f.h.parseID("otherepoch-3"); !p.given || p.valid {
		t.Fatalf("foreign id parsed as %+v", p)
	}
	if p := f.h.parseID(f.h.id(42)); !p.valid || p.seq != 42 {
		t.Fatalf("own id parsed as %+v", p)
	}
	for _, bad := range []string{"-", f.h.epoch + "-", f.h.epoch + "-x", f.h.epoch} {
		if p := f.h.parseID(bad); !p.given || p.valid {
			t.Fatalf("%q parsed as %+v", bad, p)
		}
	}
}

func TestHubMergesNamesInOrder(t *testing.T) {
	f := newHubFixture(t, 10)
	a := f.acquire(t, fb.TopicEvent, "a")
	b := f.acquire(t, fb.TopicEvent, "b")
	s := newStream(100)
	start, _ := f.h.attach(s, []*channel{a, b}, position{})
	f.h.detach(s, []*channel{a, b})
	f.publish("a", "1")
	f.publish("b", "2")
	f.publish("a", "3")
	f.publish("b", "4")
	a, b = f.acquire(t, fb.TopicEvent, "a"), f.acquire(t, fb.TopicEvent, "b")
	start, _ = f.h.attach(newStream(100), []*channel{b, a}, position{given: true, valid: true, seq: start.pos})
	if got := bodies(t, start.backlog); !equal(got, []string{"1", "2", "3", "4"}) {
		t.Fatalf("backlog %v", got)
	}
}

func TestStreamOverflowEndsIt(t *testing.T) {
	f := newHubFixture(t, 100)
	c := f.acquire(t, fb.TopicEvent, "x")
	s := newStream(2)
	if _, err := f.h.attach(s, []*channel{c}, position{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		f.publish("x", strconv.Itoa(i))
	}
	q, overflow, _ := f.h.take(s, nil)
	if len(q) != 2 || !overflow {
		t.Fatalf("%d queued, overflow %v", len(q), overflow)
	}
	// The history still has all three for the resume.
	if n := len(c.entriesAfter(nil, 0)); n != 3 {
		t.Fatalf("history holds %d", n)
	}
}

func TestHubExpiresIdleNames(t *testing.T) {
	f := newHubFixture(t, 10)
	f.h.cfg.Options.SSERetention = time.Minute
	c := f.acquire(t, fb.TopicEvent, "x")
	s := newStream(10)
	start, _ := f.h.attach(s, []*channel{c}, position{})
	if f.events.Count("x") != 1 {
		t.Fatal("hub not subscribed")
	}
	f.h.sweep(time.Now().Add(time.Hour))
	if f.events.Count("x") != 1 {
		t.Fatal("a watched name expired")
	}
	f.h.detach(s, []*channel{c})
	f.h.sweep(time.Now().Add(30 * time.Second))
	if f.events.Count("x") != 1 {
		t.Fatal("expired before the retention")
	}
	f.h.sweep(time.Now().Add(2 * time.Minute))
	if f.events.Count("x") != 0 {
		t.Fatal("idle name still subscribed")
	}
	// Changes while unwatched are not recorded: resuming is a gap even if
	// the new channel saw nothing yet.
	f.publish("x", "lost")
	c = f.acquire(t, fb.TopicEvent, "x")
	got, _ := f.h.attach(newStream(10), []*channel{c}, position{given: true, valid: true, seq: start.pos})
	if got.nGaps != 1 {
		t.Fatalf("resume across an expiry: %+v", got)
	}
}

func TestRecordChannelFollowsTheRecord(t *testing.T) {
	f := newHubFixture(t, 100)
	c := f.acquire(t, fb.TopicRecord, "r")
	s := newStream(100)
	start, _ := f.h.attach(s, []*channel{c}, position{})
	if len(start.states) != 1 || string(start.states[0]) != `{"topic":"record","action":"read","name":"r","version":0,"data":{}}` {
		t.Fatalf("initial state %q", start.states)
	}
	e := f.records.Lookup("r")
	write := func(w record.Write) {
		t.Helper()
		w.Forced = true
		w.Expect = -1
		if _, _, err := f.records.Apply(e, &w, nil); err != nil {
			t.Fatal(err)
		}
		_, doc, _ := e.Snapshot()
		f.h.mu.Lock()
		kept := string(c.doc)
		f.h.mu.Unlock()
		if kept != string(doc) {
			t.Fatalf("hub keeps %s, record is %s", kept, doc)
		}
	}
	write(record.Write{Kind: record.Replace, Data: []byte(`{"a":{"b":1},"l":[1,2,3]}`)})
	write(record.Write{Kind: record.SetPath, Path: "a.c", Data: []byte(`"x"`)})
	write(record.Write{Kind: record.ErasePath, Path: "l[1]"})
	write(record.Write{Kind: record.SetPath, Path: "l[4]", Data: []byte(`true`)})
	q, _, _ := f.h.take(s, nil)
	var actions []string
	for _, e := range q {
		var m struct{ Action string }
		_ = json.Unmarshal(e.body, &m)
		actions = append(actions, m.Action)
	}
	if !equal(actions, []string{"update", "patch", "erase", "patch"}) {
		t.Fatalf("actions %v", actions)
	}

	// Deleted: the channel records the delete and watches the next record
	// of that name.
	if err := f.records.Delete(e, nil, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.records.Subscribers("r") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("not subscribed again after the delete")
		}
		time.Sleep(time.Millisecond)
	}
	e = f.records.Lookup("r")
	write(record.Write{Kind: record.SetPath, Path: "n", Data: []byte(`1`)})
	q, _, _ = f.h.take(s, q[:0])
	actions = actions[:0]
	for _, e := range q {
		var m struct {
			Action  string
			Version int64
		}
		_ = json.Unmarshal(e.body, &m)
		actions = append(actions, m.Action+strconv.FormatInt(m.Version, 10))
	}
	if !equal(actions, []string{"delete0", "patch1"}) {
		t.Fatalf("after delete: %v", actions)
	}
}

func TestHubClose(t *testing.T) {
	f := newHubFixture(t, 10)
	c := f.acquire(t, fb.TopicEvent, "x")
	s := newStream(10)
	if _, err := f.h.attach(s, []*channel{c}, position{}); err != nil {
		t.Fatal(err)
	}
	f.h.close()
	select {
	case <-s.wake:
	default:
		t.Fatal("stream not woken")
	}
	if _, _, closed := f.h.take(s, nil); !closed {
		t.Fatal("stream not closed")
	}
	if _, err := f.h.acquire(context.Background(), chanKey{fb.TopicEvent, "y"}); err != errDraining {
		t.Fatalf("acquire after close: %v", err)
	}
}
