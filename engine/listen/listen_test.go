package listen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/internal/shard"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

type fakeConn struct {
	mu   sync.Mutex
	msgs []string // "found prices/eur prices/.*", "removed …"
}

func (c *fakeConn) Send(p []byte) error {
	var v msg.View
	if err := v.Reset(p); err != nil {
		panic(err)
	}
	if v.Topic() != fb.TopicEvent {
		panic("topic")
	}
	kind := "found"
	if v.Action() == fb.ActionSubscriptionRemoved {
		kind = "removed"
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, kind+" "+string(v.Name())+" "+string(v.Path()))
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs
	c.msgs = nil
	return m
}

func expect(t *testing.T, c *fakeConn, want ...string) {
	t.Helper()
	if got := c.take(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

type sub struct{ _ byte } // not zero-size: distinct subs must have distinct addresses

func (*sub) Deliver([]byte) {}

// world is a registry over a real event table.
type world struct {
	t      *testing.T
	events *event.Table
	reg    *Registry
}

func newWorld(t *testing.T) *world {
	ev := event.New()
	return &world{t: t, events: ev, reg: New(fb.TopicEvent, ev)}
}

func (w *world) subscribe(name string, s *sub) {
	if _, first := w.events.Subscribe(name, s); first {
		w.reg.Subscribed(name)
	}
}

func (w *world) unsubscribe(name string, s *sub) {
	if _, last := w.events.Unsubscribe(name, s); last {
		w.reg.Unsubscribed(name)
	}
}

func (w *world) listener() (*Peer, *fakeConn) {
	c := &fakeConn{}
	return NewPeer(c), c
}

func (w *world) listen(p *Peer, pattern string) {
	w.t.Helper()
	if err := w.reg.Listen(p, pattern, nil); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) empty() {
	w.t.Helper()
	if s := w.reg.Stats(); s != (Stats{}) {
		w.t.Fatalf("left behind: %+v", s)
	}
}

func TestAcceptAndRemoved(t *testing.T) {
	w := newWorld(t)
	p, c := w.listener()
	w.listen(p, "prices/.*")
	a, b := &sub{}, &sub{}
	w.subscribe("prices/eur", a)
	expect(t, c, "found prices/eur prices/.*")
	w.subscribe("prices/eur", b) // not the first: nothing new
	w.subscribe("news", a)       // no match
	w.subscribe("old/prices/eur", a)
	expect(t, c) // anchored: a match must cover the whole name
	if err := w.reg.Accept(p, "prices/eur", "prices/.*"); err != nil {
		t.Fatal(err)
	}
	if s := w.reg.Stats(); s.Providers != 1 {
		t.Fatalf("stats %+v", s)
	}
	w.unsubscribe("prices/eur", a)
	expect(t, c)
	w.unsubscribe("prices/eur", b)
	expect(t, c, "removed prices/eur prices/.*")
	if s := w.reg.Stats(); s.Names != 0 {
		t.Fatalf("stats %+v", s)
	}
	w.reg.Close(p)
	w.empty()
}

func TestExistingSubscriptionsAreOfferedToNewListener(t *testing.T) {
	w := newWorld(t)
	a := &sub{}
	w.subscribe("prices/eur", a)
	w.subscribe("prices/usd", a)
	w.subscribe("other", a)
	p, c := w.listener()
	acked := false
	if err := w.reg.Listen(p, "prices/.*", func() {
		if len(c.take()) != 0 {
			t.Fatal("a SubscriptionFound preceded the acknowledgement")
		}
		acked = true
	}); err != nil || !acked {
		t.Fatalf("listen: %v, acknowledged %v", err, acked)
	}
	got := c.take()
	slices.Sort(got)
	if !slices.Equal(got, []string{"found prices/eur prices/.*", "found prices/usd prices/.*"}) {
		t.Fatalf("got %q", got)
	}
	w.reg.Close(p)
	w.empty()
}

func TestRejectAsksNextThenNobody(t *testing.T) {
	w := newWorld(t)
	p1, c1 := w.listener()
	p2, c2 := w.listener()
	w.listen(p1, "x.*")
	w.listen(p2, "x.*")
	w.subscribe("x1", &sub{})
	first, fc, second, sc := p1, c1, p2, c2
	if len(c1.msgs) == 0 {
		first, fc, second, sc = p2, c2, p1, c1
	}
	expect(t, fc, "found x1 x.*")
	expect(t, sc)
	if err := w.reg.Reject(first, "x1", "x.*"); err != nil {
		t.Fatal(err)
	}
	expect(t, sc, "found x1 x.*")
	_ = w.reg.Reject(second, "x1", "x.*")
	expect(t, fc) // nobody is asked twice in a round
	expect(t, sc)
	// A third listener arriving is asked.
	p3, c3 := w.listener()
	w.listen(p3, "x1")
	expect(t, c3, "found x1 x1")
	_ = w.reg.Accept(p3, "x1", "x1")
	// The provider leaving starts a new round: the earlier rejecters are
	// asked again (one of them).
	if err := w.reg.Unlisten(p3, "x1"); err != nil {
		t.Fatal(err)
	}
	if n := len(c1.take()) + len(c2.take()); n != 1 {
		t.Fatalf("%d listeners asked", n)
	}
	w.reg.Close(p1)
	w.reg.Close(p2)
	w.empty()
}

func TestProviderDisconnectFailsOver(t *testing.T) {
	w := newWorld(t)
	p1, c1 := w.listener()
	w.listen(p1, "a")
	s := &sub{}
	w.subscribe("a", s)
	expect(t, c1, "found a a")
	_ = w.reg.Accept(p1, "a", "a")
	p2, c2 := w.listener()
	w.listen(p2, "a|b")
	expect(t, c2) // a already has a provider
	w.reg.Close(p1)
	expect(t, c2, "found a a|b")
	_ = w.reg.Accept(p2, "a", "a|b")
	w.unsubscribe("a", s)
	expect(t, c2, "removed a a|b")
	w.reg.Close(p2)
	w.empty()
}

func TestLateAndStrayAnswers(t *testing.T) {
	w := newWorld(t)
	p, c := w.listener()
	w.listen(p, "n")
	s := &sub{}
	w.subscribe("n", s)
	expect(t, c, "found n n")
	w.unsubscribe("n", s) // gone before the answer
	expect(t, c)
	_ = w.reg.Accept(p, "n", "n")
	expect(t, c, "removed n n") // told to stop at once
	if err := w.reg.Reject(p, "n", "n"); err != nil {
		t.Fatal(err)
	}
	if err := w.reg.Accept(p, "n", "other"); !errors.Is(err, ErrNotListening) {
		t.Fatalf("accept for an unknown pattern: %v", err)
	}
	w.reg.Close(p)
	w.empty()
}

func TestListenErrors(t *testing.T) {
	w := newWorld(t)
	p, _ := w.listener()
	for _, bad := range []string{"(", "a)|(b", "[z-a]", "x{1001}"} {
		if err := w.reg.Listen(p, bad, nil); !errors.Is(err, ErrInvalidPattern) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	w.listen(p, "ok")
	if err := w.reg.Listen(p, "ok", nil); !errors.Is(err, ErrAlreadyListening) || !p.Listening("ok") || p.Listening("no") {
		t.Fatal(err)
	}
	if err := w.reg.Unlisten(p, "nope"); !errors.Is(err, ErrNotListening) {
		t.Fatal(err)
	}
	if err := w.reg.Unlisten(p, "ok"); err != nil {
		t.Fatal(err)
	}
	w.reg.Close(p)
	if err := w.reg.Listen(p, "ok", nil); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	w.empty()
}

// TestRandomAgainstInvariants runs random listens, answers, subscriptions
// and disconnects, checking after each step that every subscribed name
// with a matching live listener has exactly one provider or asked
// listener, and that everything is gone at the end.
func TestRandomAgainstInvariants(t *testing.T) {
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(5, 6))
	patterns := []string{"a.*", "ab", "b|c", ".*"}
	names := []string{"a", "ab", "b", "c", "d"}
	subs := []*sub{{}, {}, {}}
	subscribed := map[string]map[*sub]bool{}
	type lst struct {
		p *Peer
		c *fakeConn
	}
	var ls []*lst
	for step := 0; step < 20000; step++ {
		switch rng.IntN(7) {
		case 0:
			l := &lst{}
			l.p, l.c = w.listener()
			ls = append(ls, l)
			_ = w.reg.Listen(l.p, patterns[rng.IntN(len(patterns))], nil)
		case 1:
			if len(ls) > 0 {
				i := rng.IntN(len(ls))
				w.reg.Close(ls[i].p)
				ls = slices.Delete(ls, i, i+1)
			}
		case 2, 3:
			n, s := names[rng.IntN(len(names))], subs[rng.IntN(len(subs))]
			if subscribed[n] == nil {
				subscribed[n] = map[*sub]bool{}
			}
			subscribed[n][s] = true
			w.subscribe(n, s)
		case 4:
			n, s := names[rng.IntN(len(names))], subs[rng.IntN(len(subs))]
			delete(subscribed[n], s)
			w.unsubscribe(n, s)
		default: // every listener answers what it was asked
			for _, l := range ls {
				for _, m := range l.c.take() {
					var kind, name, pattern string
					fmt.Sscan(m, &kind, &name, &pattern)
					if kind != "found" {
						continue
					}
					if rng.IntN(2) == 0 {
						_ = w.reg.Accept(l.p, name, pattern)
					} else {
						_ = w.reg.Reject(l.p, name, pattern)
					}
				}
			}
		}
		// Check the invariants on the registry's internals.
		for _, n := range names {
			st := w.reg.stateOf(n)
			if len(subscribed[n]) == 0 {
				if st != nil {
					t.Fatalf("step %d: %s has state without subscribers", step, n)
				}
				continue
			}
			if st == nil || (st.provider == nil && st.pending == nil) {
				// Nobody provides or is asked: every live matching
				// listener must have declined in this round.
				var live []*listener
				if l := w.reg.listeners.Load(); l != nil {
					live = *l
				}
				for _, l := range live {
					if l.re.MatchString(n) && (st == nil || !slices.Contains(st.tried, l)) {
						t.Fatalf("step %d: %s has no provider but %q was never asked", step, n, l.pattern)
					}
				}
			}
			if st == nil {
				continue
			}
			if st.provider != nil && st.pending != nil {
				t.Fatalf("step %d: %s has a provider and an asked listener", step, n)
			}
			if st.provider == nil && st.pending == nil && len(st.tried) == 0 {
				t.Fatalf("step %d: %s has an empty state", step, n)
			}
			for _, l := range append(slices.Clone(st.tried), st.provider, st.pending) {
				if l != nil && l.gone.Load() {
					t.Fatalf("step %d: %s refers to a removed listener", step, n)
				}
			}
		}
	}
	for _, l := range ls {
		w.reg.Close(l.p)
	}
	for n, ss := range subscribed {
		for s := range ss {
			w.unsubscribe(n, s)
		}
	}
	w.empty()
}

func (r *Registry) stateOf(name string) *state {
	sh := &r.names[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[name]
}

// TestConcurrentSubscriptionChurn races first/last subscriptions against
// listens and unlistens (-race) and checks nothing is left behind.
func TestConcurrentSubscriptionChurn(t *testing.T) {
	w := newWorld(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			s := &sub{}
			p, c := w.listener()
			for i := 0; i < 500; i++ {
				n := fmt.Sprint("n", i%4)
				w.subscribe(n, s)
				if i%50 == 0 {
					_ = w.reg.Listen(p, fmt.Sprint("n[0-", g, "]"), nil)
				}
				for _, m := range c.take() {
					var kind, name, pattern string
					fmt.Sscan(m, &kind, &name, &pattern)
					if kind == "found" {
						_ = w.reg.Accept(p, name, pattern)
					}
				}
				w.unsubscribe(n, s)
				if i%50 == 25 {
					w.reg.Close(p)
					p, c = w.listener()
				}
			}
			w.reg.Close(p)
		}(g)
	}
	wg.Wait()
	w.empty()
	if w.events.Len() != 0 {
		t.Fatalf("event table holds %d names", w.events.Len())
	}
}

// Distinct patterns share one budget of compiled size; identical ones
// share one compiled copy, and unlistening gives the budget back.
func TestPatternBudget(t *testing.T) {
	w := newWorld(t)
	big := func(i int) string { return fmt.Sprintf("p%d/(a{900}|b{900})", i) } // about 1,800 instructions
	var peers []*Peer
	n := 0
	for ; ; n++ {
		p := NewPeer(&fakeConn{})
		if err := w.reg.Listen(p, big(n), nil); err != nil {
			if !errors.Is(err, ErrTooManyPatterns) {
				t.Fatalf("pattern %d: %v", n, err)
			}
			break
		}
		peers = append(peers, p)
		if n > MaxTotalInsts {
			t.Fatal("the budget never ran out")
		}
	}
	if n < MaxTotalInsts/MaxPatternInsts {
		t.Fatalf("budget spent after %d patterns", n)
	}
	// The same text again costs nothing.
	if err := w.reg.Listen(NewPeer(&fakeConn{}), big(0), nil); err != nil {
		t.Fatal(err)
	}
	w.reg.Close(peers[1])
	if err := w.reg.Listen(NewPeer(&fakeConn{}), big(n), nil); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, _, err := compile("(" + strings.Repeat("x", 10) + "){0,1000}y{1000}z{1000}"); !errors.Is(err, ErrPatternTooLarge) {
		t.Fatalf("large pattern: %v", err)
	}
}
