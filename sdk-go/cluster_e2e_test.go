package eddy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/cluster/clustertest"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// These tests run the SDK against three in-process Eddy nodes joined over
// a three-server in-process NATS cluster (node i on NATS server i), so
// everything that crosses nodes also crosses a NATS route. Clients only
// use the SDK; the servers' state is read to know when a change has
// travelled (never a fixed sleep).

// cluBound bounds every wait: changes cross nodes through NATS routes, and
// the tests must pass on a loaded machine under the race detector.
const cluBound = 30 * time.Second

type cluCluster struct {
	nats  *clustertest.NATS
	nodes []*engine.Server
}

// cluStart starts n NATS servers and n Eddy nodes, and waits until every
// node sees every other.
func cluStart(t *testing.T, n int) *cluCluster {
	t.Helper()
	cc := &cluCluster{nats: clustertest.StartNATS(t, n)}
	for i := 0; i < n; i++ {
		cc.nodes = append(cc.nodes, enginetest.Start(t, func(o *engine.Options) {
			o.Cluster.NATS, o.Cluster.Node = cc.nats.URL(i), fmt.Sprint("node", i)
			o.Cluster.Heartbeat, o.Cluster.NodeTimeout = 250*time.Millisecond, 3*time.Second
		}))
	}
	cluWait(t, "every node sees the others", func() bool {
		for _, srv := range cc.nodes {
			if len(srv.Cluster().Directory().Nodes()) != n-1 {
				return false
			}
		}
		return true
	})
	return cc
}

func cluWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(cluBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in %v", what, cluBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitInterest waits until nodes Eddy nodes follow the event name on NATS
// and NATS server natsServer (the publisher's node's) knows of each.
func (cc *cluCluster) waitInterest(t *testing.T, natsServer int, name string, nodes int) {
	t.Helper()
	cluWait(t, "interest in "+name, func() bool { return cc.nats.EventInterest(natsServer, "eddy", name, nodes) })
}

// cluCtx is a context bounded by cluBound.
func cluCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), cluBound)
	t.Cleanup(cancel)
	return ctx
}

// until waits until cond holds for what was received so far, and returns it.
func (e *collector) until(t *testing.T, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.After(cluBound)
	for {
		e.mu.Lock()
		got := slices.Clone(e.got)
		e.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-e.more:
		case <-deadline:
			t.Fatalf("%s: not received in %v; got %d events", what, cluBound, len(got))
		}
	}
}

func TestClusterEventsAcrossNodes(t *testing.T) {
	cc := cluStart(t, 3)
	const name = "chat/room 1"
	// Two subscribers on every node, one per transport.
	var subs []*collector
	for _, srv := range cc.nodes {
		for _, tr := range []string{"tcp", "ws"} {
			c := dial(t, addrOf(srv, tr))
			e := newCollector()
			if _, err := c.Event.Subscribe(name, e.add); err != nil {
				t.Fatal(err)
			}
			subs = append(subs, e)
		}
	}
	// Publishers on the first two nodes; each node's interest must have
	// reached both publishers' NATS servers first.
	cc.waitInterest(t, 0, name, 3)
	cc.waitInterest(t, 1, name, 3)
	pubs := []*eddy.Client{dial(t, addrOf(cc.nodes[0], "tcp")), dial(t, addrOf(cc.nodes[1], "ws"))}
	const n = 300
	var wg sync.WaitGroup
	for p, pub := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := pub.Event.Emit(name, []byte(fmt.Sprintf(`{"p":%d,"i":%d}`, p, i))); err != nil {
					t.Error(err)
					return
				}
			}
			// The end mark follows everything this publisher sent: a
			// duplicate of an earlier event would come before it.
			if err := pub.Event.Emit(name, []byte(fmt.Sprintf(`{"p":%d,"end":true}`, p))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ends := func(got []string) bool {
		return slices.Contains(got, `{"p":0,"end":true}`) && slices.Contains(got, `{"p":1,"end":true}`)
	}
	for k, e := range subs {
		got := e.until(t, fmt.Sprintf("subscriber %d: both end marks", k), ends)
		next := [2]int{}
		for _, ev := range got {
			var p, i int
			if _, err := fmt.Sscanf(ev, `{"p":%d,"i":%d}`, &p, &i); err != nil {
				continue // an end mark
			}
			if i != next[p] {
				t.Fatalf("subscriber %d (node %d): publisher %d event %d arrived when %d was due", k, k/2, p, i, next[p])
			}
			next[p]++
		}
		if next != [2]int{n, n} || len(got) != 2*n+2 {
			t.Fatalf("subscriber %d (node %d): %d events, %v per publisher; want %d each, once", k, k/2, len(got), next, n)
		}
	}
}

// cluProvider answers requests: rejects while rejecting is set, otherwise
// responds with its node's name.
type cluProvider struct {
	node      string
	rejecting atomic.Bool
	asked     atomic.Int64
}

func (p *cluProvider) serve(req *eddy.RPCRequest) {
	p.asked.Add(1)
	if p.rejecting.Load() {
		_ = req.Reject()
		return
	}
	_ = req.Respond(context.Background(), p.node+":"+string(req.Data()))
}

func TestClusterRPCRerouteAcrossNodes(t *testing.T) {
	cc := cluStart(t, 3)
	a, b, c := cc.nodes[0], cc.nodes[1], cc.nodes[2]
	pb, pc := &cluProvider{node: "b"}, &cluProvider{node: "c"}
	pb.rejecting.Store(true)
	cb := dial(t, addrOf(b, "tcp"), as("pb"))
	cc2 := dial(t, addrOf(c, "ws"), as("pc"))
	if err := cb.RPC.Provide("echo", pb.serve); err != nil {
		t.Fatal(err)
	}
	if err := cc2.RPC.Provide("echo", pc.serve); err != nil {
		t.Fatal(err)
	}
	cluWait(t, "node a knows both providers", func() bool { return a.RPC().Stats().Providers == 2 })
	req := dial(t, addrOf(a, "tcp"), as("req"))
	// b rejects everything: every request ends at c, wherever it was
	// offered first.
	const n = 20
	for i := 0; i < n; i++ {
		res, err := req.RPC.Make(cluCtx(t), "echo", i)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if want := fmt.Sprintf(`"c:%d"`, i); string(res) != want {
			t.Fatalf("request %d: %s, want %s", i, res, want)
		}
	}
	if pc.asked.Load() != n || pb.asked.Load() == 0 {
		t.Fatalf("c asked %d times of %d, b %d times: no request went to b first", pc.asked.Load(), n, pb.asked.Load())
	}
	// Both reject: no provider, once every node's provider said no.
	pc.rejecting.Store(true)
	if _, err := req.RPC.Make(cluCtx(t), "echo", 0); !errors.Is(err, eddy.ErrNoProvider) {
		t.Fatalf("every provider rejecting: %v, want ErrNoProvider", err)
	}
	// The rejecting provider leaves: the other serves everything.
	pc.rejecting.Store(false)
	_ = cb.Close()
	cluWait(t, "node a drops b's provider", func() bool { return a.RPC().Stats().Providers == 1 })
	before := pc.asked.Load()
	for i := 0; i < 5; i++ {
		if res, err := req.RPC.Make(cluCtx(t), "echo", i); err != nil || string(res) != fmt.Sprintf(`"c:%d"`, i) {
			t.Fatalf("after b left, request %d: %s %v", i, res, err)
		}
	}
	if got := pc.asked.Load() - before; got != 5 {
		t.Fatalf("c asked %d times for 5 requests", got)
	}
	// The last provider leaves: nobody provides the name anywhere.
	_ = cc2.Close()
	cluWait(t, "node a drops c's provider", func() bool { return a.RPC().Stats().Providers == 0 })
	if _, err := req.RPC.Make(cluCtx(t), "echo", 0); !errors.Is(err, eddy.ErrNoProvider) {
		t.Fatalf("no provider left: %v, want ErrNoProvider", err)
	}
}

type cluChange struct {
	user   string
	online bool
}

func cluNextChange(t *testing.T, ch <-chan cluChange, want cluChange) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("presence change %+v, want %+v", got, want)
		}
	case <-time.After(cluBound):
		t.Fatalf("no presence change %+v in %v", want, cluBound)
	}
}

func cluGetAll(t *testing.T, c *eddy.Client) string {
	t.Helper()
	users, err := c.Presence.GetAll(cluCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(users)
	return fmt.Sprint(users)
}

func TestClusterPresenceOneUserOnTwoNodes(t *testing.T) {
	cc := cluStart(t, 3)
	a, b, c := cc.nodes[0], cc.nodes[1], cc.nodes[2]
	watcher := dial(t, addrOf(c, "ws"), as("watcher"))
	ch := make(chan cluChange, 64)
	unsubscribe := watcher.Presence.Subscribe(func(u string, on bool) { ch <- cluChange{u, on} })
	defer unsubscribe()
	// A query on the same connection comes back after the subscription
	// was processed.
	if got := cluGetAll(t, watcher); got != "[]" {
		t.Fatalf("online before anyone joined: %s", got)
	}
	// ann on a, then on b: one join.
	ann1 := dial(t, addrOf(a, "tcp"), as("ann"))
	cluNextChange(t, ch, cluChange{"ann", true})
	ann2 := dial(t, addrOf(b, "ws"), as("ann"))
	cluWait(t, "node c sees ann's connection on b", func() bool {
		return c.Presence().Online("ann") && b.Presence().Online("ann") && b.Connections() == 1
	})
	if got := cluGetAll(t, watcher); got != "[ann]" {
		t.Fatalf("online with ann on two nodes: %s", got)
	}
	// ann's connection on a closes: still online through b. zed then
	// joins on a; a's directory changes reach c in order, so zed's join is
	// the next change unless ann's leave was wrongly reported.
	_ = ann1.Close()
	cluWait(t, "ann's connection on a gone", func() bool { return a.Connections() == 0 })
	zed := dial(t, addrOf(a, "tcp"), as("zed"))
	cluNextChange(t, ch, cluChange{"zed", true})
	if got := cluGetAll(t, watcher); got != "[ann zed]" {
		t.Fatalf("online with ann on b only: %s", got)
	}
	// ann's last connection closes: one leave.
	_ = ann2.Close()
	cluNextChange(t, ch, cluChange{"ann", false})
	if got := cluGetAll(t, watcher); got != "[zed]" {
		t.Fatalf("online after ann left everywhere: %s", got)
	}
	_ = zed.Close()
	cluNextChange(t, ch, cluChange{"zed", false})
	select {
	case got := <-ch:
		t.Fatalf("more presence changes: %+v", got)
	default:
	}
}

type cluListenEvent struct {
	who  string
	what string // "found name" or "removed name"
}

// cluListener listens to pattern on c as who, accepts every name it is
// asked to provide, then emits "from who" on it, and reports on out.
func cluListener(t *testing.T, c *eddy.Client, who, pattern string, out chan<- cluListenEvent) {
	t.Helper()
	err := c.Event.Listen(pattern, func(match string, r *eddy.ListenResponse) {
		_ = r.Accept()
		out <- cluListenEvent{who, "found " + match}
	}, func(match string) {
		out <- cluListenEvent{who, "removed " + match}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func cluNextListen(t *testing.T, ch <-chan cluListenEvent, want cluListenEvent) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("listener told %+v, want %+v", got, want)
		}
	case <-time.After(cluBound):
		t.Fatalf("no listener told %+v in %v", want, cluBound)
	}
}

func TestClusterListenHandOver(t *testing.T) {
	cc := cluStart(t, 3)
	a, b, c := cc.nodes[0], cc.nodes[1], cc.nodes[2]
	listeners := func(want int) func() bool {
		return func() bool {
			for _, srv := range cc.nodes {
				if srv.EventListeners().Stats().Listeners != want {
					return false
				}
			}
			return true
		}
	}
	toldA, toldB := make(chan cluListenEvent, 16), make(chan cluListenEvent, 16)
	la := dial(t, addrOf(a, "tcp"))
	cluListener(t, la, "a", "prices/.*", toldA)
	cluWait(t, "every node knows a's listener", listeners(1))
	// A subscriber on c: the only listener, on a, is asked and accepts.
	sub := dial(t, addrOf(c, "ws"))
	got := newCollector()
	if _, err := sub.Event.Subscribe("prices/eur", got.add); err != nil {
		t.Fatal(err)
	}
	cluNextListen(t, toldA, cluListenEvent{"a", "found prices/eur"})
	// A second listener on b is not asked: a provides the name.
	lb := dial(t, addrOf(b, "ws"))
	cluListener(t, lb, "b", "prices/.*", toldB)
	cluWait(t, "every node knows both listeners", listeners(2))
	// a's connection closes: the name is handed to b.
	_ = la.Close()
	cluNextListen(t, toldB, cluListenEvent{"b", "found prices/eur"})
	// b provides: its events reach the subscriber on c.
	cc.waitInterest(t, 1, "prices/eur", 1)
	if err := lb.Event.Emit("prices/eur", []byte(`"from b"`)); err != nil {
		t.Fatal(err)
	}
	got.until(t, "b's event on c", func(g []string) bool { return slices.Contains(g, `"from b"`) })
	// The last subscriber leaves: b is told, once.
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	cluNextListen(t, toldB, cluListenEvent{"b", "removed prices/eur"})
	select {
	case e := <-toldB:
		t.Fatalf("listener told more: %+v", e)
	default:
	}
	// a was asked once; after its own close at most told it lost the name.
	for len(toldA) > 0 {
		if e := <-toldA; e.what != "removed prices/eur" {
			t.Fatalf("listener a told %+v after closing", e)
		}
	}
}

// TestClusterListenHandOverRace closes the provider right after a second
// listener on another node listened, before every node has heard of it:
// the second listener must still be asked, once its listening reaches the
// name's owner, and only once.
//
// It fails for now: when the subscriber's node hears the first listener go
// before it hears the second arrive, its count of listeners of the pattern
// drops to zero and it withdraws the name from the directory for a moment.
// The owner then drops the name's state while the second listener is
// still asked (pending listeners are forgotten silently), and asks it again
// when the name comes back: a second SubscriptionFound with no
// SubscriptionRemoved between.
func TestClusterListenHandOverRace(t *testing.T) {
	cc := cluStart(t, 3)
	a, b, c := cc.nodes[0], cc.nodes[1], cc.nodes[2]
	for round := 0; round < 10; round++ {
		pattern := fmt.Sprintf("race%d/.*", round)
		name := fmt.Sprintf("race%d/x", round)
		toldA, toldB := make(chan cluListenEvent, 16), make(chan cluListenEvent, 16)
		la := dial(t, addrOf(a, "tcp"))
		cluListener(t, la, "a", pattern, toldA)
		sub := dial(t, addrOf(c, "ws"))
		if _, err := sub.Event.Subscribe(name, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		cluNextListen(t, toldA, cluListenEvent{"a", "found " + name})
		lb := dial(t, addrOf(b, "ws"))
		listened := make(chan error, 1)
		go func() {
			listened <- lb.Event.Listen(pattern, func(match string, r *eddy.ListenResponse) {
				_ = r.Accept()
				toldB <- cluListenEvent{"b", "found " + match}
			}, func(match string) { toldB <- cluListenEvent{"b", "removed " + match} })
		}()
		if round%2 == 1 {
			if err := <-listened; err != nil {
				t.Fatal(err)
			}
		}
		_ = la.Close()
		select {
		case got := <-toldB:
			if got != (cluListenEvent{"b", "found " + name}) {
				t.Fatalf("round %d: listener b told %+v", round, got)
			}
		case <-time.After(cluBound):
			var st []string
			for _, srv := range cc.nodes {
				st = append(st, fmt.Sprintf("%+v", srv.EventListeners().Stats()))
			}
			t.Fatalf("round %d: listener b never asked for %s after a's provider closed; listeners: %v", round, name, st)
		}
		// b is asked once: the next thing it hears is the removal when
		// the subscriber leaves.
		_ = sub.Close()
		cluNextListen(t, toldB, cluListenEvent{"b", "removed " + name})
		_ = lb.Close()
	}
}
