package cluster_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/cluster/clustertest"
)

// waitUntil polls cond until it holds or fails the test after a generous
// bound (the machine may be loaded).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// entries mirrors what a node's directory callbacks report.
type entries struct {
	mu   sync.Mutex
	seen map[string]bool // node + "/" + key
	down []string
}

func (e *entries) has(node, key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen[node+"/"+key]
}

func (e *entries) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.seen)
}

func startNode(t *testing.T, urls, name string) (*cluster.Node, *entries) {
	t.Helper()
	n, err := cluster.New(cluster.Config{URLs: urls, Node: name, Heartbeat: 100 * time.Millisecond, NodeTimeout: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &entries{seen: make(map[string]bool)}
	n.Directory().OnEntry('x', func(node, key string, add bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if add {
			e.seen[node+"/"+key] = true
		} else {
			delete(e.seen, node+"/"+key)
		}
	})
	n.Directory().OnNodeDown(func(node string) {
		e.mu.Lock()
		e.down = append(e.down, node)
		e.mu.Unlock()
	})
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n, e
}

func TestDirectoryReplicates(t *testing.T) {
	nc := clustertest.StartNATS(t, 1)
	a, ea := startNode(t, nc.URLs(), "a")
	// Entries set before the others exist reach them by snapshot.
	for i := 0; i < 100; i++ {
		a.Directory().Set('x', fmt.Sprint("early", i))
	}
	b, eb := startNode(t, nc.URLs(), "b")
	waitUntil(t, "b sees a's early entries", func() bool { return eb.count() == 100 })
	for i := 0; i < 100; i++ {
		a.Directory().Delete('x', fmt.Sprint("early", i))
	}
	b.Directory().Set('x', "k")
	b.Directory().Set('y', "other kind")
	waitUntil(t, "a sees b's entry", func() bool { return ea.has("b", "k") })
	waitUntil(t, "b sees a's deletes", func() bool { return eb.count() == 0 })
	if !slices.Equal(a.Directory().Nodes(), []string{"b"}) || !a.Directory().Live("b") || a.Directory().Live("c") {
		t.Fatalf("a's nodes: %v", a.Directory().Nodes())
	}
	// A goodbye removes b's entries at once.
	b.Close()
	waitUntil(t, "b's entries removed", func() bool { return ea.count() == 0 })
	ea.mu.Lock()
	down := slices.Clone(ea.down)
	ea.mu.Unlock()
	if !slices.Equal(down, []string{"b"}) {
		t.Fatalf("nodes down: %v", down)
	}
}

// A node cut off from NATS without a goodbye is taken for gone after the
// node timeout; when it comes back its entries are restored, including
// changes made while it was away.
func TestDirectoryPartition(t *testing.T) {
	nc := clustertest.StartNATS(t, 1)
	p := clustertest.StartProxy(t, nc.URL(0)[len("nats://"):])
	a, ea := startNode(t, nc.URLs(), "a")
	b, _ := startNode(t, p.URL(), "b")
	b.Directory().Set('x', "one")
	waitUntil(t, "a sees b", func() bool { return ea.has("b", "one") })
	p.Cut()
	waitUntil(t, "b disconnected", func() bool { return !b.Connected() })
	b.Directory().Set('x', "two") // made while away
	waitUntil(t, "a drops b", func() bool { return !a.Directory().Live("b") && ea.count() == 0 })
	p.Restore()
	waitUntil(t, "a sees b again with both entries", func() bool { return ea.has("b", "one") && ea.has("b", "two") })
	if st := b.Stats(); st.Reconnects == 0 || st.Resyncs == 0 && a.Stats().Resyncs == 0 {
		t.Fatalf("stats: b %+v a %+v", st, a.Stats())
	}
}

func TestEventRouting(t *testing.T) {
	nc := clustertest.StartNATS(t, 3)
	nodes := make([]*cluster.Node, 3)
	got := make([]chan string, 3)
	for i := range nodes {
		n, err := cluster.New(cluster.Config{URLs: nc.URL(i), Node: fmt.Sprint("n", i)})
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan string, 100)
		got[i] = ch
		n.OnEvent(func(name string, frame []byte) { ch <- name + "=" + string(frame) })
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		nodes[i] = n
	}
	name := "chat/a.b *>é"
	nodes[1].EventInterest(name, true)
	nodes[2].EventInterest(name, true)
	// Interest spreads over routes; wait until server 0 knows of both.
	waitUntil(t, "interest on every server", func() bool {
		return nc.Interest(0, "eddy.ev."+cluster.EncodeName(name)) == 2
	})
	for i := 0; i < 10; i++ {
		if err := nodes[0].PublishEvent([]byte(name), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []int{1, 2} {
		for i := 0; i < 10; i++ {
			select {
			case s := <-got[k]:
				if want := name + "=" + fmt.Sprint(i); s != want {
					t.Fatalf("node %d got %q, want %q", k, s, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("node %d: event %d did not arrive", k, i)
			}
		}
	}
	if len(got[0]) != 0 {
		t.Fatalf("publisher got its own events back")
	}
	if nc.ClientSubscriptions(0, "eddy.ev.") != 0 || nc.ClientSubscriptions(1, "eddy.ev.") != 1 {
		t.Fatalf("subscriptions on the servers: %d %d", nc.ClientSubscriptions(0, "eddy.ev."), nc.ClientSubscriptions(1, "eddy.ev."))
	}
	if nodes[0].EventSubscriptions() != 0 || nodes[1].EventSubscriptions() != 1 {
		t.Fatalf("subscriptions: %d %d", nodes[0].EventSubscriptions(), nodes[1].EventSubscriptions())
	}
	// Interest ends after the linger.
	nodes[1].EventInterest(name, false)
	waitUntil(t, "node 1 unsubscribed", func() bool { return nodes[1].EventSubscriptions() == 0 })
}
