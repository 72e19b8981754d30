package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// The cluster test runs NATS (the natsd test program) and three eddy nodes
// as processes, drives them with SDK clients, SIGKILLs one node mid-load
// and checks what the survivors do about it.

const (
	procBound       = 30 * time.Second // every wait, on a loaded machine
	procNodeTimeout = 3 * time.Second  // cluster.nodeTimeout of every node
	// procLeaveMargin is what a dead node's users may take beyond
	// NodeTimeout to go offline: heartbeat phase, and a loaded machine.
	procLeaveMargin = 12 * time.Second
)

// proc is a child process whose output is kept for failure messages.
type proc struct {
	cmd    *exec.Cmd
	name   string
	mu     sync.Mutex
	log    []string
	exited chan struct{}
}

func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

// startProc runs bin with args and waits until a line of its output
// contains ready, returning that line. It is killed when the test ends.
func startProc(t *testing.T, name, ready, bin string, args ...string) (*proc, string) {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), name: name, exited: make(chan struct{})}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout // one pipe, in order
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			if len(p.log) > 40 {
				p.log = p.log[1:]
			}
			p.mu.Unlock()
			if !found && strings.Contains(sc.Text(), ready) {
				found = true
				lines <- sc.Text()
			}
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case line := <-lines:
		return p, line
	case <-p.exited:
		t.Fatalf("%s exited before it was ready:\n%s", name, p.tail())
	case <-time.After(procBound):
		t.Fatalf("%s not ready in %v:\n%s", name, procBound, p.tail())
	}
	return nil, ""
}

func goBuild(t *testing.T, out, pkg string) {
	t.Helper()
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
}

type procNode struct {
	*proc
	tcp, http string
}

type procHealth struct {
	Connections int
	Cluster     struct {
		Node      string
		Connected bool
		Nodes     []string
	}
}

func (n *procNode) health(t *testing.T) procHealth {
	t.Helper()
	var h procHealth
	resp, err := http.Get("http://" + n.http + "/health")
	if err != nil {
		t.Fatalf("%s health: %v", n.name, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("%s health: %v", n.name, err)
	}
	return h
}

func procWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(procBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in %v", what, procBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func procDial(t *testing.T, n *procNode, user string) *eddy.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procBound)
	defer cancel()
	c, err := eddy.Dial(ctx, "tcp://"+n.tcp, eddy.WithAuth(map[string]any{"username": user}), eddy.WithoutReconnect())
	if err != nil {
		t.Fatalf("dial %s as %s: %v", n.name, user, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// seqLog checks that the events of each publisher reach one subscriber in
// order, without gaps or duplicates, and counts them.
type seqLog struct {
	mu   sync.Mutex
	next map[int]int // publisher -> next index due; probes don't count
	err  error
}

func (s *seqLog) add(data []byte) {
	var e struct {
		P     int
		I     int
		Probe bool
	}
	if err := json.Unmarshal(data, &e); err != nil {
		s.fail(fmt.Errorf("bad event %s", data))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		s.next = make(map[int]int)
	}
	if e.Probe {
		if _, ok := s.next[e.P]; !ok {
			s.next[e.P] = 0
		}
		return
	}
	if want := s.next[e.P]; e.I != want && s.err == nil {
		s.err = fmt.Errorf("publisher %d: event %d arrived when %d was due", e.P, e.I, want)
	}
	s.next[e.P] = e.I + 1
}

func (s *seqLog) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// count returns how many events of publisher p arrived, -1 before its
// first probe.
func (s *seqLog) count(p int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.next[p]
	if !ok {
		return -1
	}
	return n
}

func (s *seqLog) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// presenceLog records the presence changes one watcher is told of.
type presenceLog struct {
	mu     sync.Mutex
	online map[string]bool
	leaves map[string]time.Time
}

func (l *presenceLog) add(user string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.online == nil {
		l.online, l.leaves = make(map[string]bool), make(map[string]time.Time)
	}
	l.online[user] = on
	if !on {
		l.leaves[user] = time.Now()
	}
}

func (l *presenceLog) isOnline(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.online[user]
}

func (l *presenceLog) left() map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Time, len(l.leaves))
	for u, at := range l.leaves {
		out[u] = at
	}
	return out
}

// rpcCounter answers requests with its node's name and counts them.
type rpcCounter struct {
	node  string
	asked atomic.Int64
}

func (r *rpcCounter) serve(req *eddy.RPCRequest) {
	r.asked.Add(1)
	_ = req.Respond(context.Background(), r.node)
}

func make1(t *testing.T, c *eddy.Client, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), procBound)
	defer cancel()
	res, err := c.RPC.Make(ctx, name, nil)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(res, &s); err != nil {
		t.Fatalf("rpc %s answer %s", name, res)
	}
	return s, nil
}

func TestClusterProcessesSurviveNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	eddyBin, natsdBin := filepath.Join(dir, "eddy"), filepath.Join(dir, "natsd")
	goBuild(t, eddyBin, ".")
	goBuild(t, natsdBin, "github.com/eddy-realtime/eddy/engine/cluster/clustertest/natsd")

	_, line := startProc(t, "natsd", "natsd ready", natsdBin, "-port", "0", "-store", filepath.Join(dir, "js"))
	natsURL := strings.TrimSpace(strings.TrimPrefix(line, "natsd ready"))

	var nodes []*procNode
	for i := 0; i < 3; i++ {
		n := &procNode{tcp: freeAddr(t), http: freeAddr(t)}
		name := fmt.Sprint("n", i)
		n.proc, _ = startProc(t, name, "eddy serving", eddyBin, "start",
			"--tcp-addr", n.tcp, "--ws-addr", "off", "--http-addr", n.http,
			"-set", "store.engine=memory",
			"-set", "cluster.nats="+natsURL, "-set", "cluster.node="+name,
			"-set", "rpc.acceptTimeout=25s", "-set", "rpc.responseTimeout=25s", "-set", "cluster.heartbeat=250ms", "-set", "cluster.nodeTimeout="+procNodeTimeout.String())
		nodes = append(nodes, n)
	}
	procWait(t, "every node sees the other two", func() bool {
		for _, n := range nodes {
			if h := n.health(t); !h.Cluster.Connected || len(h.Cluster.Nodes) != 2 {
				return false
			}
		}
		return true
	})
	victim := nodes[2]

	// Presence watchers on the survivors; a query on the same connection
	// returns after the subscription was processed.
	watchers := make([]*presenceLog, 2)
	for i := range watchers {
		watchers[i] = &presenceLog{}
		w := procDial(t, nodes[i], fmt.Sprint("watch-", i))
		w.Presence.Subscribe(watchers[i].add)
		if _, err := w.Presence.GetAll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	// On every node: a subscriber, a publisher, a requester, and a
	// provider of "svc" and of "only-<node>".
	const event = "load/ticks"
	subs := make([]*seqLog, 3)
	pubs := make([]*eddy.Client, 3)
	reqs := make([]*eddy.Client, 3)
	provs := make([]*rpcCounter, 3)
	var users []string
	for i, n := range nodes {
		subs[i] = &seqLog{}
		s := procDial(t, n, fmt.Sprint("sub-", i))
		if _, err := s.Event.Subscribe(event, subs[i].add); err != nil {
			t.Fatal(err)
		}
		pubs[i] = procDial(t, n, fmt.Sprint("pub-", i))
		reqs[i] = procDial(t, n, fmt.Sprint("req-", i))
		provs[i] = &rpcCounter{node: n.name}
		p := procDial(t, n, fmt.Sprint("prov-", i))
		for _, name := range []string{"svc", "only-" + n.name} {
			if err := p.RPC.Provide(name, provs[i].serve); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range []string{"sub-", "pub-", "req-", "prov-"} {
			users = append(users, fmt.Sprint(u, i))
		}
	}
	victimUsers := append(slices.Clone(users[8:]), "listen-"+victim.name, "holder")
	// dual is on a survivor and on the victim: it must stay online.
	procDial(t, nodes[0], "dual")
	procDial(t, victim, "dual")
	users = append(users, "dual")

	// The victim's listener provides feed/x for a subscriber on n0; a
	// listener on n1 comes second and waits.
	type told struct{ node, what string }
	listens := make(chan told, 16)
	listen := func(n *procNode) {
		c := procDial(t, n, "listen-"+n.name)
		err := c.Event.Listen("feed/.*", func(match string, r *eddy.ListenResponse) {
			_ = r.Accept()
			listens <- told{n.name, "found " + match}
		}, func(match string) { listens <- told{n.name, "removed " + match} })
		if err != nil {
			t.Fatal(err)
		}
	}
	nextListen := func(want told) {
		t.Helper()
		select {
		case got := <-listens:
			if got != want {
				t.Fatalf("listener told %+v, want %+v", got, want)
			}
		case <-time.After(procBound):
			t.Fatalf("no listener told %+v in %v", want, procBound)
		}
	}
	listen(victim)
	feed := procDial(t, nodes[0], "feed-sub")
	if _, err := feed.Event.Subscribe("feed/x", func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	nextListen(told{victim.name, "found feed/x"})
	listen(nodes[1])
	procWait(t, "watchers see every user online", func() bool {
		for _, w := range watchers {
			for _, u := range users {
				if !w.isOnline(u) {
					return false
				}
			}
		}
		return true
	})
	// Every node provides "svc" and its own name, seen from every node.
	for _, r := range reqs {
		for _, n := range nodes {
			procWait(t, "only-"+n.name+" reachable", func() bool {
				got, err := make1(t, r, "only-"+n.name)
				return err == nil && got == n.name
			})
		}
	}
	// A node's interest reaches NATS a moment after its first subscriber:
	// each publisher probes until every subscriber heard it.
	for p, pub := range pubs {
		procWait(t, fmt.Sprint("every subscriber hearing publisher ", p), func() bool {
			if err := pub.Event.EmitJSON(event, map[string]any{"p": p, "probe": true}); err != nil {
				t.Fatal(err)
			}
			for _, s := range subs {
				if s.count(p) < 0 {
					return false
				}
			}
			return true
		})
	}

	// Steady load: every publisher emits, every requester calls "svc" and
	// the "only-" name of the next node, until stop.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rpcOK [3]atomic.Int64
	var rpcErrs sync.Map // error text -> *atomic.Int64, for the log
	for i := range nodes {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				if err := pubs[i].Event.EmitJSON(event, map[string]any{"p": i, "i": k}); err != nil {
					if i != 2 {
						t.Errorf("publisher %d: %v", i, err)
					}
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				name := "svc"
				if k%2 == 1 {
					name = "only-" + nodes[(i+1)%3].name
				}
				if _, err := make1(t, reqs[i], name); err != nil {
					if errors.Is(err, eddy.ErrClosed) || errors.Is(err, eddy.ErrConnectionLost) {
						if i != 2 {
							t.Errorf("requester %d: %v", i, err)
						}
						return
					}
					v, _ := rpcErrs.LoadOrStore(name+": "+err.Error(), new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
					continue
				}
				rpcOK[i].Add(1)
			}
		}()
	}
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})
	procWait(t, "load flowing everywhere", func() bool {
		for _, s := range subs {
			for p := range pubs {
				if s.count(p) < 50 {
					return false
				}
			}
		}
		return rpcOK[0].Load() >= 20 && rpcOK[1].Load() >= 20 && rpcOK[2].Load() >= 20
	})

	select {
	case got := <-listens:
		t.Fatalf("before the kill, listener told %+v", got)
	default:
	}

	// A request the victim's provider accepted and holds: the requester
	// must hear NoRpcProvider once the node is gone. The accept may or may
	// not reach n0 before the kill; either way the node's going ends the
	// request, long before the accept and response timeouts (25s).
	held := make(chan *eddy.RPCRequest, 1)
	holder := procDial(t, victim, "holder")
	if err := holder.RPC.Provide("hold", func(r *eddy.RPCRequest) { _ = r.Accept(); held <- r }); err != nil {
		t.Fatal(err)
	}
	holdReq := procDial(t, nodes[0], "hold-req")
	holdErr := make(chan error, 1)
	procWait(t, "hold provided on "+nodes[0].name, func() bool {
		go func() { _, err := make1(t, holdReq, "hold"); holdErr <- err }()
		select {
		case <-held:
			return true
		case err := <-holdErr:
			if !errors.Is(err, eddy.ErrNoProvider) {
				t.Fatalf("hold before the kill: %v", err)
			}
			return false
		}
	})

	// SIGKILL the victim mid-load.
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.exited

	// Its users go offline on both survivors, within NodeTimeout plus a
	// margin; nobody else does.
	procWait(t, "the victim's users offline on the survivors", func() bool {
		for _, w := range watchers {
			for _, u := range victimUsers {
				if w.isOnline(u) {
					return false
				}
			}
		}
		return true
	})
	select {
	case err := <-holdErr:
		if !errors.Is(err, eddy.ErrNoProvider) {
			t.Errorf("the request held by the victim: %v, want ErrNoProvider", err)
		}
		if d := time.Since(killed); d > procNodeTimeout+procLeaveMargin {
			t.Errorf("the request held by the victim failed %v after the kill", d)
		}
	case <-time.After(procBound):
		t.Fatal("the request held by the victim never failed")
	}
	var slowest time.Duration
	for k, w := range watchers {
		for u, at := range w.left() {
			if !slices.Contains(victimUsers, u) {
				t.Errorf("watcher %d: %s went offline", k, u)
			}
			slowest = max(slowest, at.Sub(killed))
		}
	}
	for k, w := range watchers {
		if !w.isOnline("dual") {
			t.Errorf("watcher %d: dual, still on %s, is offline", k, nodes[0].name)
		}
	}
	if slowest > procNodeTimeout+procLeaveMargin {
		t.Errorf("the victim's users went offline %v after the kill; NodeTimeout is %v", slowest, procNodeTimeout)
	}
	for _, n := range nodes[:2] {
		if h := n.health(t); !h.Cluster.Connected || fmt.Sprint(h.Cluster.Nodes) != "["+nodes[1-slices.Index(nodes, n)].name+"]" {
			t.Errorf("%s health after the kill: %+v", n.name, h.Cluster)
		}
	}

	// The victim's listener is gone with it: feed/x is handed to n1's.
	nextListen(told{nodes[1].name, "found feed/x"})

	// The survivors' subscribers keep receiving each other's events.
	var base [2][2]int
	for s := 0; s < 2; s++ {
		for p := 0; p < 2; p++ {
			base[s][p] = subs[s].count(p)
		}
	}
	procWait(t, "survivors' events keep flowing after the kill", func() bool {
		for s := 0; s < 2; s++ {
			for p := 0; p < 2; p++ {
				if subs[s].count(p) < base[s][p]+50 {
					return false
				}
			}
		}
		return true
	})

	// RPCs provided on survivors keep succeeding; the victim's provider
	// is dropped, so the name only it provided has no provider anywhere.
	for i := 0; i < 2; i++ {
		for k := 0; k < 20; k++ {
			for _, name := range []string{"svc", "only-" + nodes[1-i].name} {
				if got, err := make1(t, reqs[i], name); err != nil || got == victim.name {
					t.Fatalf("requester %d after the kill: %s answered %q, %v", i, name, got, err)
				}
			}
		}
		for k := 0; k < 3; k++ {
			if _, err := make1(t, reqs[i], "only-"+victim.name); !errors.Is(err, eddy.ErrNoProvider) {
				t.Fatalf("requester %d: only-%s after the kill: %v, want ErrNoProvider", i, victim.name, err)
			}
		}
	}

	close(stop)
	wg.Wait()
	for s := 0; s < 2; s++ {
		if err := subs[s].failure(); err != nil {
			t.Errorf("subscriber on %s: %v", nodes[s].name, err)
		}
	}
	rpcErrs.Range(func(k, v any) bool {
		t.Logf("rpc errors during the run: %d× %s", v.(*atomic.Int64).Load(), k)
		return true
	})
	t.Logf("victim's users offline on the survivors %v after SIGKILL; rpcs answered: %d %d %d",
		slowest, rpcOK[0].Load(), rpcOK[1].Load(), rpcOK[2].Load())
}
