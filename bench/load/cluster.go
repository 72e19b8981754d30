package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/cluster/clustertest"
)

func init() { Register(clusterEventsFanout{}) }

// ClusterNodes is the number of NATS servers, and of Eddy nodes, of
// cluster-events-fanout.
const ClusterNodes = 3

// clusterName is the cluster.name of the bench's Eddy nodes: their event
// subjects are clusterName + ".ev." + cluster.EncodeName(event name).
const clusterName = "eddy"

// clusterEventsFanout is events-fanout across a cluster: ClusterNodes
// NATS servers joined by routes, one Eddy node on each, Pubs publishers
// on node 0 and Subs subscribers spread evenly over the nodes (subscriber
// i on node i mod ClusterNodes). Every event reaches node 0's subscribers
// directly and crosses NATS once to each other node. The baseline is the
// same shape through NATS alone: nats.go clients on the same NATS
// servers, publishers on server 0, subscriber i on server i mod
// ClusterNodes. Run (run.go, runCluster) starts the servers; the scenario
// runs against any target, spreading its clients when the target is a
// ClusterTarget.
//
// Figures are events-fanout's.
type clusterEventsFanout struct{}

func (clusterEventsFanout) Name() string     { return "cluster-events-fanout" }
func (clusterEventsFanout) Headline() string { return "deliveries" }

func (clusterEventsFanout) defaults() (Params, string) {
	p := DefaultParams()
	p.Subs = 30
	return p, "tcp"
}

// clustered marks the scenario whose runs start their own NATS cluster
// and Eddy nodes (runCluster).
func (clusterEventsFanout) clustered() int { return ClusterNodes }

// Run implements Scenario.
func (clusterEventsFanout) Run(ctx context.Context, target Target, p Params) (Figures, []string, error) {
	return runFanout(ctx, target, p, eventsShape{})
}

// ClusterTarget is a server made of several nodes (Eddy nodes, or the
// NATS servers of one cluster). Dial reaches node 0; fan-out scenarios
// put subscriber i on node i mod len(Nodes) (DialNode) and their
// publishers on node 0, and call WaitReady before publishing.
type ClusterTarget struct {
	Nodes []Target
	// Ready, when set, returns once what subscribers of the event name
	// have subscribed is known where node 0's publishers send, so that
	// the first publish reaches every subscriber.
	Ready func(ctx context.Context, name string) error
}

var _ Target = (*ClusterTarget)(nil)

// Name implements Target: the nodes' name ("eddy", "nats").
func (t *ClusterTarget) Name() string { return t.Nodes[0].Name() }

// Transport implements Target.
func (t *ClusterTarget) Transport() string { return t.Nodes[0].Transport() }

// Dial implements Target: a connection to node 0.
func (t *ClusterTarget) Dial(ctx context.Context) (Client, error) { return t.Nodes[0].Dial(ctx) }

// DialNode opens a connection to node i mod len(Nodes).
func (t *ClusterTarget) DialNode(ctx context.Context, i int) (Client, error) {
	return t.Nodes[i%len(t.Nodes)].Dial(ctx)
}

// WaitReady waits for Ready, if set.
func (t *ClusterTarget) WaitReady(ctx context.Context, name string) error {
	if t.Ready == nil {
		return nil
	}
	return t.Ready(ctx, name)
}

// nodeDialer is a target whose subscribers spread over nodes.
type nodeDialer interface {
	DialNode(ctx context.Context, i int) (Client, error)
}

// readyWaiter is a target that needs a moment between the last
// subscription and the first publish (cross-node interest propagating).
type readyWaiter interface {
	WaitReady(ctx context.Context, name string) error
}

// dialNode dials the connection of subscriber i: on node i mod the nodes
// of a ClusterTarget, or on the one server of any other target.
func dialNode(ctx context.Context, t Target, i int) (Client, error) {
	if nd, ok := t.(nodeDialer); ok {
		return nd.DialNode(ctx, i)
	}
	return t.Dial(ctx)
}

// clusteredScenario is a scenario whose runs need a cluster (runCluster).
type clusteredScenario interface{ clustered() int }

// natsLabels mark the goroutines of in-process NATS servers in CPU
// profiles: `-tagignore side=client -tagignore side=nats` leaves the Eddy
// nodes alone.
var natsLabels = pprof.Labels("side", "nats")

// runCluster performs one run of a clustered scenario: it starts a NATS
// cluster in this process, runs the scenario against Eddy nodes on it
// (in-process with cfg.Spawn, cfg.SpawnExec subprocesses otherwise), then
// against the NATS servers alone, and passes each result, with the load
// average before it, to emit.
func runCluster(ctx context.Context, sc Scenario, nodes int, cfg Config, emit func(Result, string) error) error {
	var nc *clustertest.NATS
	var err error
	pprof.Do(ctx, natsLabels, func(context.Context) { nc, err = clustertest.Start(nodes) })
	if err != nil {
		return fmt.Errorf("load: nats cluster: %w", err)
	}
	defer nc.Stop()
	la := loadAvg()
	res, err := runEddyCluster(ctx, sc, cfg, nc)
	if err != nil {
		return err
	}
	if err := emit(res, la); err != nil {
		return err
	}
	la = loadAvg()
	targets := make([]Target, nc.Len())
	for i := range targets {
		targets[i] = &NATSTarget{URL: nc.URL(i)}
	}
	t := &ClusterTarget{Nodes: targets, Ready: func(ctx context.Context, name string) error {
		return waitInterest(ctx, nc, name, cfg.Params.Subs)
	}}
	if res, err = result(ctx, sc, t, cfg.Params); err != nil {
		return err
	}
	return emit(res, la)
}

// runEddyCluster starts one Eddy node per NATS server of nc, each
// connected to its own server, and runs sc against them.
func runEddyCluster(ctx context.Context, sc Scenario, cfg Config, nc *clustertest.NATS) (Result, error) {
	targets := make([]Target, nc.Len())
	for i := range targets {
		url, node := nc.URL(i), string(rune('a'+i))
		if cfg.SpawnExec != "" {
			srv, err := SpawnEddyProcess(cfg.SpawnExec, cfg.Log, "cluster.nats="+url, "cluster.name="+clusterName, "cluster.node="+node)
			if err != nil {
				return Result{}, err
			}
			defer func() { _ = srv.Close() }()
			if targets[i], err = srv.Target(cfg.Transport); err != nil {
				return Result{}, err
			}
			continue
		}
		srv, err := SpawnEddy(func(o *engine.Options) {
			o.Net.Loops = cfg.Loops
			o.Cluster.NATS, o.Cluster.Name, o.Cluster.Node = url, clusterName, node
		}, cfg.Log)
		if err != nil {
			return Result{}, err
		}
		defer func() { _ = srv.Close() }()
		if targets[i], err = srv.Target(cfg.Transport); err != nil {
			return Result{}, err
		}
	}
	// Every node with a subscriber follows the name on NATS, once.
	nodes := min(cfg.Params.Subs, len(targets))
	t := &ClusterTarget{Nodes: targets, Ready: func(ctx context.Context, name string) error {
		return waitInterest(ctx, nc, clusterName+".ev."+cluster.EncodeName(name), nodes)
	}}
	return result(ctx, sc, t, cfg.Params)
}

// waitInterest waits until the clients of nc's servers hold want
// subscriptions to subject in all, and server 0 (where publishers send)
// knows of every one: its own clients' and one per other server whose
// clients hold any (routes carry interest, not counts).
func waitInterest(ctx context.Context, nc *clustertest.NATS, subject string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		total, expect := 0, 0
		for i := 0; i < nc.Len(); i++ {
			n := nc.ClientSubscriptions(i, subject)
			total += n
			switch {
			case i == 0:
				expect += n
			case n > 0:
				expect++
			}
		}
		got := nc.Interest(0, subject)
		if total == want && got == expect {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load: %d subscriptions to %s on the NATS servers (want %d), %d known to server 0 (want %d): %w",
				total, subject, want, got, expect, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lockedWriter serializes writes to w: Run's Log when the Eddy nodes of
// a cluster log to it too, each through its own handler, and nats.go
// reports a closed connection on a goroutine of its own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// errClusterAddr is returned for a clustered scenario given a running
// server: it needs to start its own cluster.
var errClusterAddr = errors.New("load: a cluster scenario starts its own NATS cluster and nodes: use -spawn or -spawn-exec, not -addr")
