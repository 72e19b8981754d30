package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRunPrintsOneJSONLinePerRun(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"events-fanout", "-spawn", "-subs", "2", "-duration", "150ms", "-warmup", "20ms"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var line struct {
		Kind, Scenario, Target, Transport string
		Figures                           struct{ Rates map[string]float64 }
	}
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &line); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if line.Kind != "run" || line.Scenario != "events-fanout" || line.Target != "eddy" || line.Transport != "tcp" || line.Figures.Rates["deliveries"] <= 0 {
		t.Fatalf("line %+v", line)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"-spawn"}, {"events-fanout", "-nope"}, {"events-fanout", "-spawn", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"no-such-scenario", "-spawn"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "unknown scenario") {
		t.Errorf("unknown scenario: exit %d, %q", code, errb.String())
	}
}

// TestScenarioDefaults: each scenario starts from its own defaults, which
// flags then change (connections runs over WebSocket unless told).
func TestScenarioDefaults(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		transport string
		pubs      int
	}{
		{[]string{"connections", "-spawn", "-conns", "50", "-duration", "50ms"}, "ws", 1},
		{[]string{"rpc", "-spawn", "-requesters", "3", "-providers", "2", "-window", "30", "-duration", "100ms", "-warmup", "20ms"}, "tcp", 3},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.args, code, errb.String())
		}
		var line struct {
			Scenario, Transport string
			Params              struct{ Pubs int }
		}
		if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &line); err != nil {
			t.Fatalf("%v: %q", err, out.String())
		}
		if line.Transport != tc.transport || line.Params.Pubs != tc.pubs {
			t.Fatalf("%q: %+v", tc.args, line)
		}
	}
}
