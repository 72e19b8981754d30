package load

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	for name, want := range map[string]struct {
		pubs, subs, window int
		transport          string
	}{
		"events-fanout":         {1, 10, 16384, "tcp"},
		"records-fanout":        {10, 100, 16384, "tcp"},
		"rpc":                   {100, 10, 1600, "tcp"},
		"durable-writes":        {64, 0, 1024, "tcp"},
		"connections":           {1, 0, 16384, "ws"},
		"cluster-events-fanout": {1, 30, 16384, "tcp"},
		"no-such":               {1, 10, 16384, "tcp"},
	} {
		p, transport := Defaults(name)
		if p.Pubs != want.pubs || p.Subs != want.subs || p.Window != want.window || transport != want.transport {
			t.Errorf("%s: %+v %s", name, p, transport)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: defaults do not validate: %v", name, err)
		}
	}
	want := []string{"cluster-events-fanout", "connections", "durable-writes", "events-fanout", "records-fanout", "rpc"}
	if got := Scenarios(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("scenarios %v", got)
	}
}

// TestRunDurableStore runs durable-writes through Run: the spawned server
// stores in a temporary Pebble directory under StoreDir, removed after
// the run, and a NATS baseline (when installed) is skipped, not failed.
func TestRunDurableStore(t *testing.T) {
	dir := t.TempDir()
	p, _ := Defaults("durable-writes")
	p.Pubs, p.Window = 4, 64
	p.Duration, p.Warmup = 200*time.Millisecond, 50*time.Millisecond
	var out, log bytes.Buffer
	cfg := Config{Scenario: "durable-writes", Params: p, Spawn: true, StoreDir: dir, Out: &out, Log: &log}
	if _, err := FindNATS(); err == nil {
		cfg.Baseline = "nats"
	}
	seen := make(chan bool, 1)
	go func() { // the store directory exists while the run lasts
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if ents, _ := os.ReadDir(dir); len(ents) == 1 && strings.HasPrefix(ents[0].Name(), "eddy-bench-store-") {
				seen <- true
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		seen <- false
	}()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !<-seen {
		t.Fatal("no store directory appeared under StoreDir")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	if r := rep.Runs["eddy"]; len(r) != 1 || r[0].Figures.Counts["answered"] == 0 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	if cfg.Baseline != "" && (len(rep.Runs["nats"]) != 0 || !strings.Contains(log.String(), "baseline skipped")) {
		t.Fatalf("nats runs %v, log:\n%s", rep.Runs["nats"], log.String())
	}
}

func TestNATSBaselineShapes(t *testing.T) {
	if _, err := FindNATS(); err != nil {
		t.Skip(err)
	}
	srv, err := SpawnNATS(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Run("records-fanout", func(t *testing.T) {
		p := shortParams()
		p.Pubs, p.Subs = 3, 4
		f, problems, err := recordsFanout{}.Run(context.Background(), srv.Target(), p)
		if err != nil || len(problems) > 0 {
			t.Fatal(err, problems)
		}
		if f.Counts["written"] == 0 || f.Counts["delivered"] != 4*f.Counts["written"] {
			t.Fatalf("counts %v", f.Counts)
		}
	})
	t.Run("rpc", func(t *testing.T) {
		p, _ := Defaults("rpc")
		p.Duration, p.Warmup, p.Drain = 200*time.Millisecond, 50*time.Millisecond, 3*time.Second
		p.Pubs, p.Subs, p.Window = 5, 3, 40
		f, problems, err := rpcScenario{}.Run(context.Background(), srv.Target(), p)
		if err != nil || len(problems) > 0 {
			t.Fatal(err, problems)
		}
		if f.Counts["sent"] == 0 || f.Counts["answered"] != f.Counts["sent"] {
			t.Fatalf("counts %v", f.Counts)
		}
	})
	t.Run("events over websocket", func(t *testing.T) {
		target := srv.Target()
		target.Trans = "ws"
		p := shortParams()
		p.Subs = 2
		f, problems, err := eventsFanout{}.Run(context.Background(), target, p)
		if err != nil || len(problems) > 0 {
			t.Fatal(err, problems)
		}
		if f.Counts["published"] == 0 || target.Transport() != "ws" {
			t.Fatalf("counts %v", f.Counts)
		}
	})
}
