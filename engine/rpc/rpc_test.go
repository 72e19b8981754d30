package rpc

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// fakeConn records what the table sends, decoded.
type fakeConn struct {
	mu   sync.Mutex
	msgs []got
}

type got struct {
	action  fb.Action
	id      uint64
	name    string
	data    string
	code    protocol.Code
	reason  string
	user    string
	timeout uint32
	accept  uint32
}

func (c *fakeConn) Send(p []byte) error {
	var v msg.View
	if err := v.Reset(p); err != nil {
		panic(err)
	}
	if v.Topic() != fb.TopicRpc {
		panic("wrong topic")
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, got{v.Action(), v.Id(), string(v.Name()), string(v.DataBytes()), protocol.Code(v.Code()),
		string(v.Reason()), string(v.User()), v.TimeoutMs(), v.AcceptTimeoutMs()})
	c.mu.Unlock()
	return nil
}

// take returns and forgets everything received.
func (c *fakeConn) take() []got {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs
	c.msgs = nil
	return m
}

func (c *fakeConn) one(t *testing.T, action fb.Action) got {
	t.Helper()
	m := c.take()
	if len(m) != 1 || m[0].action != action {
		t.Fatalf("want one %s, got %+v", fb.EnumNamesAction[action], m)
	}
	return m[0]
}

func (c *fakeConn) none(t *testing.T) {
	t.Helper()
	if m := c.take(); len(m) != 0 {
		t.Fatalf("want nothing, got %+v", m)
	}
}

type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time                { return time.Unix(0, c.now.Load()) }
func (c *clock) Add(d time.Duration) time.Time { return time.Unix(0, c.now.Add(int64(d))) }

type fixture struct {
	t     *testing.T
	tab   *Table
	clock *clock
}

func newFixture(t *testing.T, cfg Config) *fixture {
	c := &clock{}
	c.now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	cfg.Now = c.Now
	return &fixture{t: t, tab: New(cfg), clock: c}
}

func (f *fixture) peer(user string) (*Peer, *fakeConn) {
	c := &fakeConn{}
	return NewPeer(c, user), c
}

func (f *fixture) provide(p *Peer, name string) {
	f.t.Helper()
	if err := f.tab.Provide(p, name); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) request(p *Peer, id uint64, name, data string) {
	f.tab.Request(p, &Call{ID: id, Name: []byte(name), Data: []byte(data)})
}

func (f *fixture) empty() {
	f.t.Helper()
	if s := f.tab.Stats(); s != (Stats{}) || f.tab.Pending() != 0 {
		f.t.Fatalf("table not empty: %+v pending %d", s, f.tab.Pending())
	}
}

func TestRouteAcceptRespond(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("ann")
	prov, pc := f.peer("bob")
	f.provide(prov, "add-two")
	f.request(req, 42, "add-two", `5`)
	fw := pc.one(t, fb.ActionRequest)
	if fw.id&ServerIDBit == 0 || fw.name != "add-two" || fw.data != `5` || fw.user != "" {
		t.Fatalf("forwarded %+v", fw)
	}
	if fw.timeout != 10000 || fw.accept != 1000 {
		t.Fatalf("deadlines %d/%d ms", fw.timeout, fw.accept)
	}
	rc.none(t)
	if err := f.tab.Accept(prov, fw.id); err != nil {
		t.Fatal(err)
	}
	if a := rc.one(t, fb.ActionAccept); a.id != 42 {
		t.Fatalf("accept %+v", a)
	}
	if err := f.tab.Accept(prov, fw.id); err != nil { // twice: harmless, not relayed
		t.Fatal(err)
	}
	rc.none(t)
	if err := f.tab.Respond(prov, fw.id, []byte(`7`)); err != nil {
		t.Fatal(err)
	}
	if r := rc.one(t, fb.ActionResponse); r.id != 42 || r.data != `7` {
		t.Fatalf("response %+v", r)
	}
	if err := f.tab.Respond(prov, fw.id, []byte(`7`)); err != ErrUnknownRequest {
		t.Fatalf("second response: %v", err)
	}
	f.tab.Close(req)
	f.tab.Close(prov)
	f.empty()
}

func TestProviderErrorIsRelayed(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("")
	prov, pc := f.peer("")
	f.provide(prov, "x")
	f.request(req, 1, "x", ``)
	fw := pc.one(t, fb.ActionRequest)
	if err := f.tab.Fail(prov, fw.id, []byte("division by zero")); err != nil {
		t.Fatal(err)
	}
	e := rc.one(t, fb.ActionRequestError)
	if e.id != 1 || e.code != protocol.CodeRpcProviderError || e.reason != "division by zero" || e.name != "x" {
		t.Fatalf("error %+v", e)
	}
	f.tab.Close(prov)
	f.empty()
}

func TestNoProvider(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("")
	f.request(req, 9, "nobody", `1`)
	e := rc.one(t, fb.ActionRequestError)
	if e.id != 9 || e.code != protocol.CodeNoRpcProvider {
		t.Fatalf("%+v", e)
	}
	f.empty()
}

func TestRejectReroutesUntilNoneLeft(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("")
	p1, c1 := f.peer("")
	p2, c2 := f.peer("")
	f.provide(p1, "x")
	f.provide(p2, "x")
	f.request(req, 3, "x", `{"a":1}`)
	first, firstC, other, otherC := p1, c1, p2, c2
	if len(c1.msgs) == 0 {
		first, firstC, other, otherC = p2, c2, p1, c1
	}
	a := firstC.one(t, fb.ActionRequest)
	otherC.none(t)
	if err := f.tab.Reject(first, a.id); err != nil {
		t.Fatal(err)
	}
	b := otherC.one(t, fb.ActionRequest)
	if b.id != a.id || b.data != `{"a":1}` {
		t.Fatalf("rerouted %+v", b)
	}
	// The first provider was not asked any more: its answers are refused.
	if err := f.tab.Respond(first, a.id, nil); err != ErrUnknownRequest {
		t.Fatalf("stale response: %v", err)
	}
	rc.none(t)
	if err := f.tab.Reject(other, b.id); err != nil {
		t.Fatal(err)
	}
	if e := rc.one(t, fb.ActionRequestError); e.code != protocol.CodeNoRpcProvider || e.id != 3 {
		t.Fatalf("%+v", e)
	}
	firstC.none(t) // never asked twice
	f.tab.Close(p1)
	f.tab.Close(p2)
	f.empty()
}

func TestUnknownRequestChangesNothing(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("")
	prov, pc := f.peer("")
	stranger, sc := f.peer("")
	f.provide(prov, "x")
	f.request(req, 1, "x", ``)
	fw := pc.one(t, fb.ActionRequest)
	for name, op := range map[string]func() error{
		"accept":    func() error { return f.tab.Accept(stranger, fw.id) },
		"reject":    func() error { return f.tab.Reject(stranger, fw.id) },
		"respond":   func() error { return f.tab.Respond(stranger, fw.id, nil) },
		"fail":      func() error { return f.tab.Fail(stranger, fw.id, nil) },
		"requester": func() error { return f.tab.Respond(req, fw.id, nil) },
		"bad id":    func() error { return f.tab.Accept(prov, fw.id+1000) },
	} {
		if err := op(); err != ErrUnknownRequest {
			t.Fatalf("%s: %v", name, err)
		}
	}
	rc.none(t)
	sc.none(t)
	if f.tab.Pending() != 1 {
		t.Fatalf("pending %d", f.tab.Pending())
	}
	if err := f.tab.Respond(prov, fw.id, []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	rc.one(t, fb.ActionResponse)
}

func TestProvideErrors(t *testing.T) {
	f := newFixture(t, Config{})
	p, _ := f.peer("")
	f.provide(p, "x")
	if err := f.tab.Provide(p, "x"); err != ErrAlreadyProvided || !p.Provides("x") || p.Provides("y") {
		t.Fatal(err)
	}
	if err := f.tab.Unprovide(p, "y"); err != ErrNotProvided {
		t.Fatal(err)
	}
	if err := f.tab.Unprovide(p, "x"); err != nil {
		t.Fatal(err)
	}
	if err := f.tab.Unprovide(p, "x"); err != ErrNotProvided {
		t.Fatal(err)
	}
	f.empty()
	f.tab.Close(p)
	if err := f.tab.Provide(p, "x"); err != ErrClosed {
		t.Fatalf("provide after close: %v", err)
	}
	f.empty()
}

func TestAcceptTimeoutReroutesThenFails(t *testing.T) {
	f := newFixture(t, Config{AcceptTimeout: 100 * time.Millisecond, ResponseTimeout: time.Second})
	req, rc := f.peer("")
	p1, c1 := f.peer("")
	p2, c2 := f.peer("")
	f.provide(p1, "x")
	f.provide(p2, "x")
	f.request(req, 5, "x", `1`)
	f.tab.Expire(f.clock.Add(99 * time.Millisecond))
	n1, n2 := len(c1.take()), len(c2.take())
	if n1+n2 != 1 {
		t.Fatalf("sent %d+%d", n1, n2)
	}
	f.tab.Expire(f.clock.Add(20 * time.Millisecond)) // the first accept deadline passed
	m1, m2 := c1.take(), c2.take()
	if len(m1)+len(m2) != 1 || (n1 == 1) != (len(m2) == 1) {
		t.Fatalf("not rerouted to the other provider: %v %v", m1, m2)
	}
	rc.none(t)
	f.tab.Expire(f.clock.Add(200 * time.Millisecond))
	if e := rc.one(t, fb.ActionRequestError); e.code != protocol.CodeRpcAcceptTimeout || e.id != 5 {
		t.Fatalf("%+v", e)
	}
	f.tab.Close(p1)
	f.tab.Close(p2)
	f.empty()
}

func TestResponseTimeoutAndLateAnswers(t *testing.T) {
	f := newFixture(t, Config{AcceptTimeout: 100 * time.Millisecond, ResponseTimeout: 300 * time.Millisecond})
	req, rc := f.peer("")
	prov, pc := f.peer("")
	f.provide(prov, "x")
	f.request(req, 5, "x", `1`)
	fw := pc.one(t, fb.ActionRequest)
	f.clock.Add(50 * time.Millisecond)
	if err := f.tab.Accept(prov, fw.id); err != nil {
		t.Fatal(err)
	}
	rc.one(t, fb.ActionAccept)
	f.tab.Expire(f.clock.Add(200 * time.Millisecond)) // 250ms after sending: accepted, so no accept timeout
	rc.none(t)
	f.tab.Expire(f.clock.Add(60 * time.Millisecond)) // 310ms
	if e := rc.one(t, fb.ActionRequestError); e.code != protocol.CodeRpcResponseTimeout || e.id != 5 {
		t.Fatalf("%+v", e)
	}
	if err := f.tab.Respond(prov, fw.id, []byte(`1`)); err != ErrUnknownRequest {
		t.Fatalf("late response: %v", err)
	}
	rc.none(t)
	f.tab.Close(prov)
	f.empty()
}

func TestPerCallTimeouts(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("")
	prov, pc := f.peer("")
	f.provide(prov, "x")
	f.tab.Request(req, &Call{ID: 1, Name: []byte("x"), Timeout: 50 * time.Millisecond, AcceptTimeout: 500 * time.Millisecond})
	fw := pc.one(t, fb.ActionRequest)
	if fw.timeout != 50 || fw.accept != 50 { // the accept deadline never exceeds the response deadline
		t.Fatalf("deadlines %d/%d", fw.timeout, fw.accept)
	}
	_ = f.tab.Accept(prov, fw.id)
	rc.one(t, fb.ActionAccept)
	f.tab.Expire(f.clock.Add(60 * time.Millisecond))
	if e := rc.one(t, fb.ActionRequestError); e.code != protocol.CodeRpcResponseTimeout {
		t.Fatalf("%+v", e)
	}
}

func TestProviderCloseMidRequest(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("")
	p1, c1 := f.peer("")
	p2, c2 := f.peer("")
	f.provide(p1, "x")
	f.tab.Request(req, &Call{ID: 1, Name: []byte("x")}) // only p1 provides: it gets it
	a := c1.one(t, fb.ActionRequest)
	f.provide(p2, "x")
	f.tab.Close(p1) // not accepted: rerouted to p2
	b := c2.one(t, fb.ActionRequest)
	if b.id != a.id {
		t.Fatalf("ids %d %d", a.id, b.id)
	}
	_ = f.tab.Accept(p2, b.id)
	rc.one(t, fb.ActionAccept)
	f.tab.Close(p2) // accepted: the requester is told at once
	e := rc.one(t, fb.ActionRequestError)
	if e.code != protocol.CodeNoRpcProvider || e.id != 1 {
		t.Fatalf("%+v", e)
	}
	f.empty()
}

func TestRequesterCloseDropsRequests(t *testing.T) {
	f := newFixture(t, Config{})
	req, rc := f.peer("")
	prov, pc := f.peer("")
	f.provide(prov, "x")
	f.request(req, 1, "x", ``)
	f.request(req, 2, "x", ``)
	fws := pc.take()
	f.tab.Close(req)
	f.empty2(1)
	for _, fw := range fws {
		if err := f.tab.Respond(prov, fw.id, nil); err != ErrUnknownRequest {
			t.Fatalf("response to a closed requester: %v", err)
		}
	}
	rc.none(t)
	f.request(req, 3, "x", ``) // a closed peer's requests go nowhere
	pc.none(t)
	rc.none(t)
	f.tab.Close(prov)
	f.empty()
}

// empty2 checks nothing but providers remain.
func (f *fixture) empty2(providers int) {
	f.t.Helper()
	s := f.tab.Stats()
	if s.Requests != 0 || s.Timers != 0 || s.Providers != providers || f.tab.Pending() != 0 {
		f.t.Fatalf("stats %+v pending %d", s, f.tab.Pending())
	}
}

// The requester's own connection is asked last: after every other
// provider, before the request fails.
func TestRequesterAskedLast(t *testing.T) {
	for _, sel := range []Selection{RoundRobin, Random} {
		f := newFixture(t, Config{Selection: sel})
		self, sc := f.peer("")
		other, oc := f.peer("")
		f.provide(self, "x")
		f.request(self, 1, "x", ``) // sole provider: routed to itself
		fw := sc.take()
		if len(fw) != 1 || fw[0].action != fb.ActionRequest {
			t.Fatalf("self routing: %+v", fw)
		}
		_ = f.tab.Respond(self, fw[0].id, []byte(`1`))
		if r := sc.one(t, fb.ActionResponse); r.id != 1 {
			t.Fatalf("%+v", r)
		}
		f.provide(other, "x")
		for i := uint64(0); i < 50; i++ {
			f.request(self, 10+i, "x", ``)
			fw := oc.one(t, fb.ActionRequest)
			sc.none(t)
			_ = f.tab.Reject(other, fw.id) // then to itself
			back := sc.one(t, fb.ActionRequest)
			_ = f.tab.Reject(self, back.id)
			if e := sc.one(t, fb.ActionRequestError); e.code != protocol.CodeNoRpcProvider || !strings.Contains(e.reason, "every provider rejected it") {
				t.Fatalf("%+v", e)
			}
		}
		f.tab.Close(self)
		f.tab.Close(other)
		f.empty()
	}
}

func TestSelectionSpreadsLoad(t *testing.T) {
	for _, sel := range []Selection{RoundRobin, Random} {
		f := newFixture(t, Config{Selection: sel})
		req, _ := f.peer("")
		conns := make([]*fakeConn, 4)
		for i := range conns {
			var p *Peer
			p, conns[i] = f.peer("")
			f.provide(p, "x")
		}
		const n = 400
		for i := 0; i < n; i++ {
			f.request(req, uint64(i+1), "x", ``)
		}
		for i, c := range conns {
			k := len(c.take())
			if sel == RoundRobin && k != n/len(conns) {
				t.Fatalf("round robin: provider %d got %d", i, k)
			}
			if sel == Random && (k < n/len(conns)/2 || k > n/len(conns)*2) {
				t.Fatalf("random: provider %d got %d of %d", i, k, n)
			}
		}
	}
}

func TestExposeRequester(t *testing.T) {
	f := newFixture(t, Config{ExposeRequester: true})
	req, _ := f.peer("ann")
	prov, pc := f.peer("bob")
	f.provide(prov, "x")
	f.request(req, 1, "x", ``)
	if fw := pc.one(t, fb.ActionRequest); fw.user != "ann" {
		t.Fatalf("user %q", fw.user)
	}
}

// TestNoLeaksAfterManyCycles runs 100k provide/request/disconnect cycles
// with every ending (response, error, reject, timeouts, either side
// closing) and checks the table is empty afterwards.
func TestNoLeaksAfterManyCycles(t *testing.T) {
	cycles := 100_000
	if testing.Short() || raceEnabled {
		cycles = 20_000
	}
	f := newFixture(t, Config{AcceptTimeout: 10 * time.Millisecond, ResponseTimeout: 30 * time.Millisecond, Tick: time.Millisecond})
	rng := rand.New(rand.NewPCG(7, 9))
	names := [][]byte{[]byte("n0"), []byte("n1"), []byte("n2")}
	var live []*Peer
	var conns []*fakeConn
	for i := 0; i < cycles; i++ {
		if len(live) < 8 || rng.IntN(3) == 0 {
			p, c := f.peer("u")
			if rng.IntN(2) == 0 {
				f.provide(p, string(names[rng.IntN(3)]))
			}
			live, conns = append(live, p), append(conns, c)
		}
		req := live[rng.IntN(len(live))]
		f.tab.Request(req, &Call{ID: uint64(i), Name: names[rng.IntN(3)], Data: []byte(`1`)})
		// Let every provider answer a little of what it holds.
		for j, c := range conns {
			for _, m := range c.take() {
				if m.action != fb.ActionRequest {
					continue
				}
				switch rng.IntN(6) {
				case 0:
					_ = f.tab.Respond(live[j], m.id, []byte(`2`))
				case 1:
					_ = f.tab.Fail(live[j], m.id, []byte("no"))
				case 2:
					_ = f.tab.Reject(live[j], m.id)
				case 3:
					_ = f.tab.Accept(live[j], m.id)
				default: // ignore it: a deadline ends it
				}
			}
		}
		if len(live) > 16 || rng.IntN(4) == 0 {
			j := rng.IntN(len(live))
			f.tab.Close(live[j])
			live[j], conns[j] = live[len(live)-1], conns[len(conns)-1]
			live, conns = live[:len(live)-1], conns[:len(conns)-1]
		}
		f.tab.Expire(f.clock.Add(time.Millisecond))
	}
	for _, p := range live {
		f.tab.Close(p)
	}
	f.empty()
}

// TestConcurrentUse hammers the table from several goroutines (run with
// -race) and checks every request is answered exactly once and nothing
// is left behind.
func TestConcurrentUse(t *testing.T) {
	tab := New(Config{AcceptTimeout: 5 * time.Millisecond, ResponseTimeout: 20 * time.Millisecond, Tick: time.Millisecond})
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				tab.Expire(time.Now())
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var mu sync.Mutex
	var requesters []*countConn
	var wg sync.WaitGroup
	const rounds, perRound = 100, 10
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for round := 0; round < rounds; round++ {
				rc := &countConn{}
				req := NewPeer(rc, "")
				ac := &answerConn{ids: make(chan uint64, 1024)}
				prov := NewPeer(ac, "")
				if err := tab.Provide(prov, fmt.Sprint("n", round%3)); err != nil {
					t.Error(err)
					return
				}
				done := make(chan struct{})
				go func(seed uint64) { // the provider answers off the table's locks
					defer close(done)
					rng := rand.New(rand.NewPCG(seed, 2))
					for id := range ac.ids {
						switch rng.IntN(5) {
						case 0:
							_ = tab.Reject(prov, id)
						case 1:
							_ = tab.Fail(prov, id, []byte("no"))
						case 2: // silence
						default:
							_ = tab.Accept(prov, id)
							_ = tab.Respond(prov, id, []byte(`1`))
						}
					}
				}(uint64(g*rounds + round))
				for i := 0; i < perRound; i++ {
					tab.Request(req, &Call{ID: uint64(i + 1), Name: []byte(fmt.Sprint("n", i%3))})
				}
				time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
				tab.Close(prov)
				ac.close()
				<-done
				deadline := time.Now().Add(2 * time.Second)
				for rc.ends.Load() < perRound && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				tab.Close(req)
				mu.Lock()
				requesters = append(requesters, rc)
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	for i, rc := range requesters {
		if n := rc.ends.Load(); n != perRound {
			t.Fatalf("requester %d: %d answers to %d requests", i, n, perRound)
		}
	}
	if s := tab.Stats(); s != (Stats{}) || tab.Pending() != 0 {
		t.Fatalf("left behind: %+v", s)
	}
}

// countConn counts the messages that end a request.
type countConn struct{ ends atomic.Int64 }

func (c *countConn) Send(p []byte) error {
	var v msg.View
	if err := v.Reset(p); err != nil {
		return err
	}
	if a := v.Action(); a == fb.ActionResponse || a == fb.ActionRequestError {
		c.ends.Add(1)
	}
	return nil
}

// answerConn hands forwarded request ids to the provider goroutine.
type answerConn struct {
	mu     sync.Mutex
	closed bool
	ids    chan uint64
}

func (c *answerConn) Send(p []byte) error {
	var v msg.View
	if err := v.Reset(p); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	select {
	case c.ids <- v.Id():
	default: // full: the request times out instead
	}
	return nil
}

func (c *answerConn) close() {
	c.mu.Lock()
	c.closed = true
	close(c.ids)
	c.mu.Unlock()
}
