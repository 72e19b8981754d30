package presence

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

type fakeConn struct {
	mu   sync.Mutex
	msgs []string // "join ann", "leave bob"
}

func (c *fakeConn) Send(p []byte) error {
	var v msg.View
	if err := v.Reset(p); err != nil {
		panic(err)
	}
	if v.Topic() != fb.TopicPresence {
		panic("topic")
	}
	s := "join "
	if v.Action() == fb.ActionLeave {
		s = "leave "
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, s+string(v.User()))
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
	got := c.take()
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func peer(user string) (*Peer, *fakeConn) {
	c := &fakeConn{}
	return NewPeer(c, user), c
}

func TestUsersNotConnections(t *testing.T) {
	tab := New()
	watcher, wc := peer("")
	tab.SubscribeAll(watcher)
	var anns []*Peer
	for i := 0; i < 3; i++ {
		p, _ := peer("ann")
		tab.Join(p)
		anns = append(anns, p)
	}
	expect(t, wc, "join ann")
	if !tab.Online("ann") || tab.Online("bob") {
		t.Fatal("online")
	}
	tab.Close(anns[0])
	tab.Close(anns[1])
	expect(t, wc)
	tab.Close(anns[2])
	expect(t, wc, "leave ann")
	if tab.Online("ann") {
		t.Fatal("still online")
	}
	tab.Close(watcher)
	if s := tab.Stats(); s != (Stats{}) {
		t.Fatalf("left behind %+v", s)
	}
}

func TestAnonymousAndSelfAreNotReported(t *testing.T) {
	tab := New()
	ann1, c1 := peer("ann")
	tab.SubscribeAll(ann1)
	tab.Subscribe(ann1, "ann")
	anon, _ := peer("")
	tab.Join(anon)
	ann2, _ := peer("ann")
	tab.Join(ann2)
	tab.Join(ann1)
	expect(t, c1) // neither the anonymous login nor its own user
	if got := tab.AppendOnline(nil, ""); !slices.Equal(got, []string{"ann"}) {
		t.Fatalf("online %q", got)
	}
	if got := tab.AppendOnline(nil, "ann"); len(got) != 0 {
		t.Fatalf("online except ann %q", got)
	}
	for _, p := range []*Peer{ann1, ann2, anon} {
		tab.Close(p)
	}
	if s := tab.Stats(); s != (Stats{}) {
		t.Fatalf("left behind %+v", s)
	}
}

func TestSpecificSubscriptionsAndNoDuplicates(t *testing.T) {
	tab := New()
	w, wc := peer("w")
	tab.Subscribe(w, "ann")
	if tab.Subscribe(w, "ann") || !w.Watching("ann") || w.Watching("bob") || w.Watching("") {
		t.Fatal("second subscribe reported added, or Watching is wrong")
	}
	ann, _ := peer("ann")
	bob, _ := peer("bob")
	tab.Join(ann)
	tab.Join(bob)
	expect(t, wc, "join ann")
	tab.SubscribeAll(w) // now both: each event once
	tab.Close(ann)
	tab.Close(bob)
	expect(t, wc, "leave ann", "leave bob")
	tab.UnsubscribeAll(w) // back to ann only
	ann, _ = peer("ann")
	bob, _ = peer("bob")
	tab.Join(bob)
	tab.Join(ann)
	expect(t, wc, "join ann")
	if !tab.Unsubscribe(w, "ann") || tab.Unsubscribe(w, "ann") {
		t.Fatal("unsubscribe results")
	}
	tab.Close(ann)
	expect(t, wc)
	tab.Close(bob)
	tab.Close(w)
	if s := tab.Stats(); s != (Stats{}) {
		t.Fatalf("left behind %+v", s)
	}
}

// TestRandomAgainstModel checks notifications and counts against a simple
// model over random joins, closes and subscriptions.
func TestRandomAgainstModel(t *testing.T) {
	tab := New()
	rng := rand.New(rand.NewPCG(3, 4))
	users := []string{"", "a", "b", "c", "d"}
	type conn struct {
		p    *Peer
		c    *fakeConn
		all  bool
		subs map[string]bool
	}
	var conns []*conn
	online := map[string]int{}
	for step := 0; step < 20000; step++ {
		switch op := rng.IntN(6); {
		case op == 0 || len(conns) < 3:
			u := users[rng.IntN(len(users))]
			c := &conn{subs: map[string]bool{}}
			c.p, c.c = peer(u)
			conns = append(conns, c)
			joins := u != "" && online[u] == 0
			tab.Join(c.p)
			if u != "" {
				online[u]++
			}
			for _, o := range conns {
				want := joins && o.p.user != u && (o.all || o.subs[u])
				got := o.c.take()
				if want != (len(got) == 1) || len(got) > 1 {
					t.Fatalf("step %d: join %q: conn of %q got %q", step, u, o.p.user, got)
				}
			}
		case op == 1:
			i := rng.IntN(len(conns))
			c := conns[i]
			conns = slices.Delete(conns, i, i+1)
			u := c.p.user
			tab.Close(c.p)
			leaves := false
			if u != "" {
				online[u]--
				leaves = online[u] == 0
			}
			for _, o := range conns {
				want := leaves && o.p.user != u && (o.all || o.subs[u])
				got := o.c.take()
				if want != (len(got) == 1) || len(got) > 1 {
					t.Fatalf("step %d: leave %q: conn of %q got %q", step, u, o.p.user, got)
				}
			}
		case op == 2:
			c := conns[rng.IntN(len(conns))]
			if tab.SubscribeAll(c.p) == c.all {
				t.Fatal("SubscribeAll result")
			}
			c.all = true
		case op == 3:
			c := conns[rng.IntN(len(conns))]
			if tab.UnsubscribeAll(c.p) != c.all {
				t.Fatal("UnsubscribeAll result")
			}
			c.all = false
		case op == 4:
			c := conns[rng.IntN(len(conns))]
			u := users[1+rng.IntN(len(users)-1)]
			if tab.Subscribe(c.p, u) == c.subs[u] {
				t.Fatal("Subscribe result")
			}
			c.subs[u] = true
		case op == 5:
			c := conns[rng.IntN(len(conns))]
			u := users[1+rng.IntN(len(users)-1)]
			if tab.Unsubscribe(c.p, u) != c.subs[u] {
				t.Fatal("Unsubscribe result")
			}
			delete(c.subs, u)
		}
		for _, u := range users[1:] {
			if tab.Online(u) != (online[u] > 0) {
				t.Fatalf("step %d: online(%q)", step, u)
			}
		}
	}
	for _, c := range conns {
		tab.Close(c.p)
	}
	if s := tab.Stats(); s != (Stats{}) {
		t.Fatalf("left behind %+v", s)
	}
}

// TestConcurrentJoinLeave runs joins and closes of the same users from
// several goroutines (-race) and checks a subscriber sees strictly
// alternating join/leave per user, ending with leave.
func TestConcurrentJoinLeave(t *testing.T) {
	tab := New()
	w, wc := peer("watcher")
	tab.SubscribeAll(w)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				p, _ := peer(fmt.Sprint("u", (g+i)%3))
				tab.Join(p)
				tab.Close(p)
			}
		}(g)
	}
	wg.Wait()
	last := map[string]string{}
	for _, m := range wc.take() {
		var kind, user string
		fmt.Sscan(m, &kind, &user)
		if last[user] == kind {
			t.Fatalf("%s twice in a row for %s", kind, user)
		}
		last[user] = kind
	}
	for u, k := range last {
		if k != "leave" {
			t.Fatalf("%s ended with %s", u, k)
		}
	}
	tab.Close(w)
	if s := tab.Stats(); s != (Stats{}) {
		t.Fatalf("left behind %+v", s)
	}
}

// A watcher of bob switching between everyone and bob alone while bob
// comes and goes gets each Join and Leave exactly once.
func TestSwitchingRoutesDeliversOnce(t *testing.T) {
	tab := New()
	w, wc := peer("watcher")
	tab.Subscribe(w, "bob")
	const rounds = 2000
	stop, started, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			tab.SubscribeAll(w)
			tab.UnsubscribeAll(w)
			if n == 0 {
				close(started)
			}
		}
	}()
	<-started
	for range rounds {
		b, _ := peer("bob")
		tab.Join(b)
		tab.Close(b)
	}
	close(stop)
	<-done
	got := wc.take()
	if len(got) != 2*rounds {
		t.Fatalf("%d notifications for %d joins and leaves", len(got), 2*rounds)
	}
	for i, m := range got {
		if want := []string{"join bob", "leave bob"}[i%2]; m != want {
			t.Fatalf("notification %d is %q, want %q", i, m, want)
		}
	}
	tab.Close(w)
	if s := tab.Stats(); s != (Stats{}) {
		t.Fatalf("left behind: %+v", s)
	}
}
