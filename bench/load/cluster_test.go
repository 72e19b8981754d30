package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestClusterEventsFanout runs cluster-events-fanout through Run, as
// eddy-bench does: three in-process NATS servers, an Eddy node on each,
// then NATS alone. Every message reaches every subscriber on every node,
// and both results and the comparison are written.
func TestClusterEventsFanout(t *testing.T) {
	p, transport := Defaults("cluster-events-fanout")
	p.Subs = 7 // uneven: nodes with 3, 2 and 2
	// Long enough that a loaded machine under -race still delivers
	// something inside the measured window.
	p.Duration, p.Warmup, p.Drain = time.Second, 100*time.Millisecond, 10*time.Second
	var out, log bytes.Buffer
	cfg := Config{Scenario: "cluster-events-fanout", Params: p, Transport: transport, Spawn: true, Out: &out, Log: &log}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, target := range []string{"eddy", "nats"} {
		runs := rep.Runs[target]
		if len(runs) != 1 {
			t.Fatalf("%s: %d runs\n%s", target, len(runs), log.String())
		}
		r := runs[0]
		c := r.Figures.Counts
		if len(r.Problems) > 0 || c["published"] == 0 || c["delivered"] != c["published"]*uint64(p.Subs) || c["lost"] != 0 {
			t.Fatalf("%s: problems %v, counts %v", target, r.Problems, c)
		}
		if r.Figures.Rates["deliveries"] <= 0 {
			t.Fatalf("%s: figures %+v", target, r.Figures)
		}
	}
	if rep.Compare == nil || rep.Compare.Baseline != "nats" || rep.Compare.Ratio <= 0 {
		t.Fatalf("compare %+v", rep.Compare)
	}
	var kinds []string
	dec := json.NewDecoder(&out)
	for {
		var line struct{ Kind, Target string }
		if err := dec.Decode(&line); err != nil {
			break
		}
		kinds = append(kinds, line.Kind+":"+line.Target)
	}
	if len(kinds) != 3 || kinds[0] != "run:eddy" || kinds[1] != "run:nats" || kinds[2] != "compare:" {
		t.Fatalf("lines %v", kinds)
	}
}

// TestClusterTargetSpreadsSubscribers: subscriber i goes to node i mod
// the nodes, publishers to node 0, and WaitReady runs before publishing.
func TestClusterTargetSpreadsSubscribers(t *testing.T) {
	var servers []*EddyServer
	var nodes []Target
	for range 2 {
		srv, err := SpawnEddy(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		target, _ := srv.Target("tcp")
		servers = append(servers, srv)
		nodes = append(nodes, target)
	}
	// Two lone servers: only node 0's subscribers hear node 0's publisher,
	// which the run reports as losses.
	ready := 0
	ct := &ClusterTarget{Nodes: nodes, Ready: func(_ context.Context, name string) error {
		ready++
		if got := [2]int{servers[0].Server().Events().Count(name), servers[1].Server().Events().Count(name)}; got != [2]int{2, 1} {
			t.Errorf("subscribers per node %v, want [2 1]", got)
		}
		return nil
	}}
	p := shortParams()
	p.Subs = 3
	f, problems, err := clusterEventsFanout{}.Run(context.Background(), ct, p)
	if err != nil {
		t.Fatal(err)
	}
	if ready != 1 || len(problems) == 0 || f.Counts["delivered"] != 2*f.Counts["published"] {
		t.Fatalf("ready %d, problems %v, counts %v", ready, problems, f.Counts)
	}
	ct.Ready = func(context.Context, string) error { return errors.New("not ready") }
	if _, _, err := (clusterEventsFanout{}).Run(context.Background(), ct, p); err == nil {
		t.Fatal("a failed WaitReady did not stop the run")
	}
}

func TestClusterScenarioRefusesAnAddress(t *testing.T) {
	p, _ := Defaults("cluster-events-fanout")
	_, err := Run(context.Background(), Config{Scenario: "cluster-events-fanout", Params: p, Addr: "tcp://127.0.0.1:1"})
	if !errors.Is(err, errClusterAddr) {
		t.Fatalf("err %v", err)
	}
}
