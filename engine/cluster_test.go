package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/cluster/clustertest"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// testCluster is a NATS cluster with Eddy nodes on it.
type testCluster struct {
	nats  *clustertest.NATS
	nodes []*engine.Server
}

// startCluster starts natsServers NATS servers and one Eddy node per
// entry of urls(i) (the NATS URLs node i connects to; nil: server i mod
// natsServers).
func startCluster(t *testing.T, natsServers, nodes int, urls func(c *clustertest.NATS, i int) string) *testCluster {
	t.Helper()
	tc := &testCluster{nats: clustertest.StartNATS(t, natsServers)}
	for i := 0; i < nodes; i++ {
		u := tc.nats.URL(i % natsServers)
		if urls != nil {
			u = urls(tc.nats, i)
		}
		tc.nodes = append(tc.nodes, startNode(t, u, fmt.Sprint("node", i)))
	}
	tc.waitMesh(t)
	return tc
}

func startNode(t *testing.T, urls, name string) *engine.Server {
	t.Helper()
	return enginetest.Start(t, func(o *engine.Options) {
		o.Cluster.NATS, o.Cluster.Node = urls, name
		o.Cluster.Heartbeat, o.Cluster.NodeTimeout = 250*time.Millisecond, 3*time.Second
	})
}

// waitMesh waits until every node sees every other.
func (tc *testCluster) waitMesh(t *testing.T) {
	t.Helper()
	waitCluster(t, "every node sees the others", func() bool {
		for _, n := range tc.nodes {
			if len(n.Cluster().Directory().Nodes()) != len(tc.nodes)-1 {
				return false
			}
		}
		return true
	})
}

// waitCluster polls cond with a bound generous enough for a loaded
// machine: cross-node changes travel through NATS routes.
func waitCluster(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEventInterest waits until nodes Eddy nodes follow name on NATS and
// NATS server natsServer (where the publisher is) knows of all of them.
func (tc *testCluster) waitEventInterest(t *testing.T, natsServer int, name string, nodes int) {
	t.Helper()
	waitCluster(t, "interest in "+name, func() bool { return tc.nats.EventInterest(natsServer, "eddy", name, nodes) })
}

func emitOn(c *enginetest.Client, name, data string) {
	c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: name, Data: []byte(data)})
}

func TestClusterEventsFanOutOnceInOrder(t *testing.T) {
	tc := startCluster(t, 3, 3, nil)
	a, b, c := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	name := "chat/room.1 *>"
	var subs []*enginetest.Client
	for _, srv := range []*engine.Server{a, b, b, c} {
		for _, dial := range []dialer{transports["tcp"], transports["ws-deflate"]} {
			s := userOn(t, srv, dial, "")
			subscribeEvent(t, s, name)
			subs = append(subs, s)
		}
	}
	idle := userOn(t, c, transports["tcp"], "")
	subscribeEvent(t, idle, "other")
	tc.waitEventInterest(t, 0, name, 3) // a, b and c, once each
	pub := userOn(t, a, transports["ws"], "")
	const n = 200
	for i := 0; i < n; i++ {
		emitOn(pub, name, fmt.Sprint(i))
	}
	for k, s := range subs {
		for i := 0; i < n; i++ {
			v := s.Expect(fb.TopicEvent, fb.ActionEmit)
			if string(v.Name()) != name || string(v.DataBytes()) != fmt.Sprint(i) {
				t.Fatalf("subscriber %d: got %q %q, want %d", k, v.Name(), v.DataBytes(), i)
			}
		}
	}
	// Nothing more: a ping's answer comes next on every subscriber.
	for k, s := range subs {
		if got := drain(t, s); len(got) != 0 {
			t.Fatalf("subscriber %d got more: %v", k, got)
		}
	}
	// A node follows only names its clients are subscribed to, once per
	// name however many subscribers it has.
	other := "eddy.ev." + cluster.EncodeName("other")
	if a, b := tc.nats.ClientSubscriptions(0, other), tc.nats.ClientSubscriptions(1, other); a != 0 || b != 0 {
		t.Fatalf("nodes without subscribers of other hold %d and %d subscriptions of it", a, b)
	}
	if got := tc.nats.ClientSubscriptions(1, "eddy.ev."); got != 1 {
		t.Fatalf("node b holds %d event subscriptions, want 1 for its 4 subscribers", got)
	}
	if got := tc.nats.ClientSubscriptions(2, "eddy.ev."); got != 2 {
		t.Fatalf("node c holds %d event subscriptions, want 2", got)
	}
}

func TestClusterHealthAndMetrics(t *testing.T) {
	tc := startCluster(t, 1, 2, nil)
	resp, err := http.Get("http://" + tc.nodes[0].HTTPAddr() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status  string
		Cluster struct {
			Node      string
			Connected bool
			Nodes     []string
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "serving" || h.Cluster.Node != "node0" || !h.Cluster.Connected || len(h.Cluster.Nodes) != 1 || h.Cluster.Nodes[0] != "node1" {
		t.Fatalf("health: %+v", h)
	}
	resp, err = http.Get("http://" + tc.nodes[0].HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"eddy_cluster_connected 1", "eddy_cluster_nodes 1", "eddy_cluster_messages_out_total"} {
		if !containsLine(string(body), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
}

// containsLine reports whether some line of body starts with prefix.
func containsLine(body, prefix string) bool {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

func TestClusterPresence(t *testing.T) {
	tc := startCluster(t, 3, 3, nil)
	a, b, c := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	wa := userOn(t, a, transports["tcp"], "watcher-a")
	wc := userOn(t, c, transports["ws"], "watcher-c")
	// Both watchers are online everywhere before they subscribe.
	waitCluster(t, "watchers online everywhere", func() bool {
		return a.Presence().Online("watcher-c") && c.Presence().Online("watcher-a")
	})
	presenceSub(t, wa)
	presenceSub(t, wc)
	// ann on two nodes: one join, everywhere.
	ann1 := userOn(t, a, transports["ws-deflate"], "ann")
	expectPresence(t, wa, fb.ActionJoin, "ann")
	expectPresence(t, wc, fb.ActionJoin, "ann")
	ann2 := userOn(t, b, transports["tcp"], "ann")
	waitCluster(t, "ann on b seen by c", func() bool { return c.Presence().Online("ann") })
	q := userOn(t, c, transports["tcp"], "query")
	expectPresence(t, wa, fb.ActionJoin, "query")
	expectPresence(t, wc, fb.ActionJoin, "query")
	waitCluster(t, "getAll on c lists everyone", func() bool {
		got := queryAll(t, q)
		return fmt.Sprint(got) == "[ann watcher-a watcher-c]" // without the asker
	})
	// ann's first connection closes: still online through b.
	ann1.Conn().Close()
	waitCluster(t, "ann's first connection gone", func() bool { return a.Connections() == 1 })
	for k, w := range []*enginetest.Client{wa, wc} {
		if got := drain(t, w); len(got) != 0 {
			t.Fatalf("watcher %d told of more while ann is on b: %v", k, got)
		}
	}
	// ann's last connection closes: one leave, everywhere.
	ann2.Conn().Close()
	expectPresence(t, wa, fb.ActionLeave, "ann")
	expectPresence(t, wc, fb.ActionLeave, "ann")
	for k, w := range []*enginetest.Client{wa, wc} {
		if got := drain(t, w); len(got) != 0 {
			t.Fatalf("watcher %d got more: %v", k, got)
		}
	}
}

// waitProviders waits until srv routes name to want providers (its own
// and the other nodes').
func waitProviders(t *testing.T, srv *engine.Server, want int) {
	t.Helper()
	waitCluster(t, "providers known", func() bool { return srv.RPC().Stats().Providers == want })
}

// rpcServer answers every request reaching c from its own goroutine:
// reject while rejecting is set, otherwise accept and respond with the
// data negated. It stops when c closes.
type rpcServer struct {
	c         *enginetest.Client
	rejecting atomic.Bool
	asked     atomic.Int64
}

func serveRPC(c *enginetest.Client, reject bool) *rpcServer {
	s := &rpcServer{c: c}
	s.rejecting.Store(reject)
	go func() {
		for {
			v, err := c.Next()
			if err != nil {
				return
			}
			if v.Topic() != fb.TopicRpc || v.Action() != fb.ActionRequest {
				continue
			}
			s.asked.Add(1)
			id, data := v.Id(), string(v.DataBytes())
			if s.rejecting.Load() {
				if c.TrySend(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionReject, ID: id}) != nil {
					return
				}
				continue
			}
			if c.TrySend(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionAccept, ID: id}) != nil ||
				c.TrySend(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionResponse, ID: id, Data: []byte("-" + data)}) != nil {
				return
			}
		}
	}()
	return s
}

func TestClusterRPCRerouteAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3, 3, nil)
	a, b, c := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	pb := userOn(t, b, transports["tcp"], "pb")
	pc := userOn(t, c, transports["ws-deflate"], "pc")
	provide(t, pb, "echo")
	provide(t, pc, "echo")
	waitProviders(t, a, 2)
	sb, sc := serveRPC(pb, true), serveRPC(pc, false)
	req := userOn(t, a, transports["ws"], "req")
	// pb rejects everything: each request ends at pc, the one answer.
	const n = 20
	for i := uint64(1); i <= n; i++ {
		request(req, i, "echo", fmt.Sprint(i))
		req.Expect(fb.TopicRpc, fb.ActionAccept)
		r := req.Expect(fb.TopicRpc, fb.ActionResponse)
		if r.Id() != i || string(r.DataBytes()) != fmt.Sprint(-int(i)) {
			t.Fatalf("response %d %q", r.Id(), r.DataBytes())
		}
	}
	if sc.asked.Load() != n || sb.asked.Load() == 0 {
		t.Fatalf("pc asked %d times, pb %d", sc.asked.Load(), sb.asked.Load())
	}
	// Both reject: NoRpcProvider once every provider on every node said no.
	sc.rejecting.Store(true)
	request(req, 99, "echo", "0")
	expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeNoRpcProvider)
	sc.rejecting.Store(false)
	// A provider on the requester's node is asked before remote ones.
	pa := userOn(t, a, transports["tcp"], "pa")
	provide(t, pa, "echo")
	sa := serveRPC(pa, false)
	before := sb.asked.Load() + sc.asked.Load()
	for i := uint64(100); i < 110; i++ {
		request(req, i, "echo", "1")
		req.Expect(fb.TopicRpc, fb.ActionAccept)
		if r := req.Expect(fb.TopicRpc, fb.ActionResponse); r.Id() != i {
			t.Fatalf("response id %d", r.Id())
		}
	}
	if sa.asked.Load() != 10 || sb.asked.Load()+sc.asked.Load() != before {
		t.Fatalf("local provider asked %d of 10", sa.asked.Load())
	}
	// A provider leaving is dropped everywhere.
	pb.Conn().Close()
	waitProviders(t, a, 2) // pa and pc
	waitProviders(t, c, 2) // pa and pc
	for _, n := range tc.nodes {
		if p := n.RPC().Pending(); p != 0 {
			t.Fatalf("pending requests left: %d", p)
		}
	}
}

// listenServer accepts every SubscriptionFound reaching c and reports
// what it was told on a channel shared by several, from its own goroutine.
type listenServer struct {
	c     *enginetest.Client
	found atomic.Int64
	lost  atomic.Int64
}

type listenEvent struct {
	l    *listenServer
	what string // "found name" or "removed name"
}

func serveListen(c *enginetest.Client, out chan<- listenEvent) *listenServer {
	l := &listenServer{c: c}
	go func() {
		for {
			v, err := c.Next()
			if err != nil {
				return
			}
			switch v.Action() {
			case fb.ActionSubscriptionFound:
				l.found.Add(1)
				if c.TrySend(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionListenAccept, Name: string(v.Name()), Path: string(v.Path())}) != nil {
					return
				}
				out <- listenEvent{l, "found " + string(v.Name())}
			case fb.ActionSubscriptionRemoved:
				l.lost.Add(1)
				out <- listenEvent{l, "removed " + string(v.Name())}
			}
		}
	}()
	return l
}

// nextListen returns the next thing a listener was told, and which.
func nextListen(t *testing.T, ch <-chan listenEvent) (*listenServer, string) {
	t.Helper()
	select {
	case e := <-ch:
		return e.l, e.what
	case <-time.After(30 * time.Second):
		t.Fatal("no listener was told anything in 30s")
		return nil, ""
	}
}

func TestClusterListeningOneProvider(t *testing.T) {
	tc := startCluster(t, 3, 3, nil)
	a, b, c := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	ca, cb := userOn(t, a, transports["tcp"], ""), userOn(t, b, transports["ws"], "")
	listenTo(t, ca, "prices/.*")
	listenTo(t, cb, "prices/.*")
	told := make(chan listenEvent, 100)
	la, lb := serveListen(ca, told), serveListen(cb, told)
	waitCluster(t, "every node knows both listeners", func() bool {
		for _, n := range tc.nodes {
			if n.EventListeners().Stats().Listeners != 2 {
				return false
			}
		}
		return true
	})
	// Subscribers on every node: one provider is asked, once.
	var subs []*enginetest.Client
	first := userOn(t, c, transports["ws-deflate"], "")
	subscribeEvent(t, first, "prices/eur")
	prov, e := nextListen(t, told)
	if e != "found prices/eur" {
		t.Fatalf("told %q", e)
	}
	subs = append(subs, first)
	for _, srv := range []*engine.Server{a, b, c} {
		s := userOn(t, srv, transports["tcp"], "")
		subscribeEvent(t, s, "prices/eur")
		subs = append(subs, s)
	}
	// Every subscriber leaves: the provider is told once.
	for _, s := range subs {
		unsubscribeEvent(t, s, "prices/eur")
	}
	if l, e := nextListen(t, told); l != prov || e != "removed prices/eur" {
		t.Fatalf("after the last subscriber left: %q", e)
	}
	if la.found.Load()+lb.found.Load() != 1 || la.lost.Load()+lb.lost.Load() != 1 {
		t.Fatalf("found %d+%d removed %d+%d", la.found.Load(), lb.found.Load(), la.lost.Load(), lb.lost.Load())
	}
	// The provider leaving hands the name to the other listener.
	subscribeEvent(t, first, "prices/usd")
	prov, e = nextListen(t, told)
	if e != "found prices/usd" {
		t.Fatalf("told %q", e)
	}
	other := la
	if prov == la {
		other = lb
	}
	prov.c.Conn().Close()
	if l, e := nextListen(t, told); l != other || e != "found prices/usd" {
		t.Fatalf("after the provider left: %q", e)
	}
	unsubscribeEvent(t, first, "prices/usd")
	if _, e := nextListen(t, told); e != "removed prices/usd" {
		t.Fatalf("after the last subscriber left: %q", e)
	}
}

// POST /api on one node and GET /sse on another see one server: an event
// emitted over HTTP on a reaches a stream on b, an rpc provided on b is
// made over HTTP on a, and presence over HTTP on a counts b's users.
func TestClusterHTTPAndSSE(t *testing.T) {
	tc := startCluster(t, 2, 2, nil)
	a, b := tc.nodes[0], tc.nodes[1]
	s := openSSE(t, b, "events=news")
	s.expect("stream", "ready", "")
	tc.waitEventInterest(t, 0, "news", 1)
	emit(t, a, "news", `{"n":1}`)
	if m := s.expect("event", "emit", "news"); !jsonEqual(m.Data, []byte(`{"n":1}`)) {
		t.Fatalf("news %+v", m)
	}
	prov := userOn(t, b, transports["tcp"], "ann")
	provide(t, prov, "add")
	serveRPC(prov, false)
	waitProviders(t, a, 1)
	waitCluster(t, "a sees ann", func() bool { return a.Presence().Online("ann") })
	out := batch(t, a, "", `[{"topic":"rpc","action":"make","rpcName":"add","data":5},
		{"topic":"presence","action":"query","names":["ann","zed"]}]`)
	wantOK(t, out.Body[0], "rpc make")
	wantData(t, out.Body[0], `-5`, "rpc response")
	wantData(t, out.Body[1], `{"ann":true,"zed":false}`, "presence query by name")
}
