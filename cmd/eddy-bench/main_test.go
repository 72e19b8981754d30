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
