package engine_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/cluster/clustertest"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// clusterHealth reads the cluster part of srv's GET /health.
func clusterHealth(t *testing.T, srv *engine.Server) (status string, connected bool, nodes int) {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status  string
		Cluster struct {
			Connected bool
			Nodes     []string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Status, h.Cluster.Connected, len(h.Cluster.Nodes)
}

// proxied starts a cluster whose node 0 reaches NATS through a cuttable
// proxy.
func proxied(t *testing.T, natsServers, nodes int, cutAtStart bool) (*testCluster, *clustertest.Proxy) {
	t.Helper()
	var p *clustertest.Proxy
	nc := clustertest.StartNATS(t, natsServers)
	tc := &testCluster{nats: nc}
	p = clustertest.StartProxy(t, strings.TrimPrefix(nc.URL(0), "nats://"))
	if cutAtStart {
		p.Cut()
	}
	for i := 0; i < nodes; i++ {
		u := nc.URL(i % natsServers)
		if i == 0 {
			u = p.URL()
		}
		tc.nodes = append(tc.nodes, startNode(t, u, fmt.Sprint("node", i)))
	}
	return tc, p
}

// NATS unreachable at start: the node serves its own clients, says so,
// and joins when NATS appears.
func TestClusterNATSUnreachableAtStart(t *testing.T) {
	tc, p := proxied(t, 1, 2, true)
	a, b := tc.nodes[0], tc.nodes[1]
	if st, conn, _ := clusterHealth(t, a); st != "serving" || conn {
		t.Fatalf("health while NATS is away: %s connected=%v", st, conn)
	}
	// Local traffic works alone.
	s1, pub := userOn(t, a, transports["tcp"], ""), userOn(t, a, transports["ws"], "")
	subscribeEvent(t, s1, "local")
	emitOn(pub, "local", "1")
	s1.Expect(fb.TopicEvent, fb.ActionEmit)
	// Cross-node presence and rpc state made before NATS appears is
	// asserted once it does.
	_ = userOn(t, a, transports["tcp"], "early")
	prov := userOn(t, a, transports["tcp"], "")
	provide(t, prov, "early-rpc")
	p.Restore()
	tc.waitMesh(t)
	if _, conn, nodes := clusterHealth(t, a); !conn || nodes != 1 {
		t.Fatalf("health after NATS came: connected=%v nodes=%d", conn, nodes)
	}
	waitCluster(t, "b sees a's user", func() bool { return b.Presence().Online("early") })
	waitProviders(t, b, 1)
	sb := userOn(t, b, transports["tcp"], "")
	subscribeEvent(t, sb, "x")
	tc.waitEventInterest(t, 0, "x", 1)
	emitOn(pub, "x", "2")
	if v := sb.Expect(fb.TopicEvent, fb.ActionEmit); string(v.DataBytes()) != "2" {
		t.Fatalf("got %q", v.DataBytes())
	}
}

// NATS lost mid-run: local traffic goes on, cross-node calls fail fast
// with a clear code, and everything resumes on reconnect.
func TestClusterNATSLostMidRun(t *testing.T) {
	tc, p := proxied(t, 1, 2, false)
	a, b := tc.nodes[0], tc.nodes[1]
	tc.waitMesh(t)
	pb := userOn(t, b, transports["tcp"], "")
	provide(t, pb, "remote")
	serveRPC(pb, false)
	waitProviders(t, a, 1)
	req := userOn(t, a, transports["ws"], "")
	request(req, 1, "remote", "1")
	req.Expect(fb.TopicRpc, fb.ActionAccept)
	req.Expect(fb.TopicRpc, fb.ActionResponse)
	sa, sb := userOn(t, a, transports["tcp"], ""), userOn(t, b, transports["tcp"], "")
	subscribeEvent(t, sa, "news")
	subscribeEvent(t, sb, "news")
	tc.waitEventInterest(t, 0, "news", 2)

	p.Cut()
	waitCluster(t, "a notices", func() bool { return !a.Cluster().Connected() })
	// A cross-node call fails at once, not after a timeout.
	start := time.Now()
	request(req, 2, "remote", "1")
	expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeRpcProviderUnreachable)
	if d := time.Since(start); d > 900*time.Millisecond { // the accept timeout is 1s
		t.Fatalf("unreachable provider reported after %s", d)
	}
	// Local traffic goes on.
	emitOn(req, "news", `"local"`)
	if v := sa.Expect(fb.TopicEvent, fb.ActionEmit); string(v.DataBytes()) != `"local"` {
		t.Fatalf("got %q", v.DataBytes())
	}
	// State changed while away is re-asserted on reconnect.
	_ = userOn(t, a, transports["tcp"], "while-away")
	p.Restore()
	waitCluster(t, "a reconnected", func() bool { return a.Cluster().Connected() })
	waitCluster(t, "b sees what changed while a was away", func() bool { return b.Presence().Online("while-away") })
	request(req, 3, "remote", "1")
	req.Expect(fb.TopicRpc, fb.ActionAccept)
	req.Expect(fb.TopicRpc, fb.ActionResponse)
	// Events resume: nats.go resubscribes on reconnect.
	tc.waitEventInterest(t, 0, "news", 2)
	waitCluster(t, "an event crosses again", func() bool {
		emitOn(req, "news", `"again"`)
		sa.Expect(fb.TopicEvent, fb.ActionEmit)
		return len(drainEvents(t, sb)) > 0
	})
}

// drainEvents returns the data of the events waiting on c.
func drainEvents(t *testing.T, c *enginetest.Client) []string {
	t.Helper()
	return drain(t, c)
}

// One server of a 3-server NATS cluster killed: the nodes on it
// reconnect to another and traffic goes on.
func TestClusterNATSServerKilled(t *testing.T) {
	nc := clustertest.StartNATS(t, 3)
	tc := &testCluster{nats: nc}
	for i := 0; i < 3; i++ {
		// Each node knows every server, its own first.
		urls := []string{nc.URL(i)}
		for k := 0; k < 3; k++ {
			if k != i {
				urls = append(urls, nc.URL(k))
			}
		}
		tc.nodes = append(tc.nodes, startNode(t, strings.Join(urls, ","), fmt.Sprint("node", i)))
	}
	tc.waitMesh(t)
	a, b, c := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	sb, sc := userOn(t, b, transports["tcp"], ""), userOn(t, c, transports["ws"], "")
	subscribeEvent(t, sb, "feed")
	subscribeEvent(t, sc, "feed")
	_ = userOn(t, a, transports["tcp"], "on-a")
	waitCluster(t, "a's user online everywhere", func() bool { return b.Presence().Online("on-a") && c.Presence().Online("on-a") })
	// Kill the server node a is on (nats.go shuffles the URLs it is given).
	on := -1
	for i := 0; i < 3; i++ {
		if a.Cluster().Stats().NATS == nc.URL(i) {
			on = i
		}
	}
	if on < 0 {
		t.Fatalf("a is on %q", a.Cluster().Stats().NATS)
	}
	survivor := (on + 1) % 3
	tc.waitEventInterest(t, survivor, "feed", 2)
	nc.Kill(on)
	waitCluster(t, "a reconnected elsewhere", func() bool {
		st := a.Cluster().Stats()
		return st.Connected && st.Reconnects > 0
	})
	// Where a publishes now, b's and c's interest must be known (either
	// may have been on the killed server too and resubscribed).
	for i := 0; i < 3; i++ {
		if a.Cluster().Stats().NATS == nc.URL(i) {
			survivor = i
		}
	}
	tc.waitEventInterest(t, survivor, "feed", 2)
	pub := userOn(t, a, transports["tcp"], "")
	for i := 0; i < 50; i++ {
		emitOn(pub, "feed", fmt.Sprint(i))
	}
	for _, s := range []*enginetest.Client{sb, sc} {
		for i := 0; i < 50; i++ {
			if v := s.Expect(fb.TopicEvent, fb.ActionEmit); string(v.DataBytes()) != fmt.Sprint(i) {
				t.Fatalf("got %q, want %d", v.DataBytes(), i)
			}
		}
	}
	if !b.Presence().Online("on-a") || !c.Presence().Online("on-a") {
		t.Fatal("a's user went offline over a NATS server restart")
	}
}

// A node that stops answering (cut from NATS, as a killed process would
// be) is dropped by the others within the node timeout: its users go
// offline, its providers are dropped, its listeners replaced; the rest
// is undisturbed.
func TestClusterNodeGone(t *testing.T) {
	tc, p := proxied(t, 1, 3, false)
	a, b, c := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	tc.waitMesh(t)
	watcher := userOn(t, b, transports["tcp"], "watcher")
	_ = userOn(t, a, transports["tcp"], "doomed")
	_ = userOn(t, c, transports["tcp"], "survivor")
	waitCluster(t, "b sees every user", func() bool {
		return b.Presence().Online("doomed") && b.Presence().Online("survivor")
	})
	presenceSub(t, watcher)
	pa, pc := userOn(t, a, transports["tcp"], ""), userOn(t, c, transports["tcp"], "")
	provide(t, pa, "svc")
	provide(t, pc, "svc")
	serveRPC(pa, false)
	serveRPC(pc, false)
	waitProviders(t, b, 2)
	told := make(chan listenEvent, 100)
	la, lc := userOn(t, a, transports["tcp"], ""), userOn(t, c, transports["tcp"], "")
	listenTo(t, la, "game/.*")
	listenTo(t, lc, "game/.*")
	sla, slc := serveListen(la, told), serveListen(lc, told)
	waitCluster(t, "b knows both listeners", func() bool { return b.EventListeners().Stats().Listeners == 2 })
	sub := userOn(t, b, transports["tcp"], "")
	subscribeEvent(t, sub, "game/1")
	first, e := nextListen(t, told)
	if e != "found game/1" {
		t.Fatalf("told %q", e)
	}

	p.Cut()
	start := time.Now()
	expectPresence(t, watcher, fb.ActionLeave, "doomed")
	if d := time.Since(start); d > 3*time.Second+5*time.Second {
		t.Fatalf("left after %s", d)
	}
	waitProviders(t, b, 1)
	// Requests go to the survivor.
	req := userOn(t, b, transports["ws"], "")
	for i := uint64(1); i <= 5; i++ {
		request(req, i, "svc", "1")
		req.Expect(fb.TopicRpc, fb.ActionAccept)
		req.Expect(fb.TopicRpc, fb.ActionResponse)
	}
	if first == sla {
		// The provider's node went: the survivor is asked.
		if l, e := nextListen(t, told); l != slc || e != "found game/1" {
			t.Fatalf("after the provider's node went: %q", e)
		}
	}
	if !b.Presence().Online("survivor") {
		t.Fatal("survivor went offline")
	}
	quiet(t, watcher)
}
