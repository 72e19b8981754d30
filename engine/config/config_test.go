package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
)

func TestPrintedConfigParsesBack(t *testing.T) {
	opts, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Session.Heartbeat = 7 * time.Second
	opts.Auth.Strategies = []auth.StrategyConfig{{Type: "none"}}
	printed := String(opts)
	var back engine.Options
	if err := Parse([]byte(printed), &back); err != nil {
		t.Fatalf("printed config does not parse: %v\n%s", err, printed)
	}
	back.EnsureDefaults()
	if !reflect.DeepEqual(opts, back) {
		t.Fatalf("round trip changed the options:\n%s\nvs\n%s", printed, String(back))
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	opts, err := Load("", []string{"EDDY_NET_TCP_ADDR=127.0.0.1:7000", "EDDY_SESSION_HEARTBEAT=3s", "EDDY_NET_DEFLATE=false",
		"EDDY_AUTH_STRATEGIES=[{type: none}]", "UNRELATED=1"})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Net.TCPAddr != "127.0.0.1:7000" || opts.Session.Heartbeat != 3*time.Second || *opts.Net.Deflate || len(opts.Auth.Strategies) != 1 {
		t.Fatalf("environment not applied: %+v", opts)
	}
	if _, err := Load("", []string{"EDDY_SESSION_HEARTBEAT=soon"}); err == nil || !strings.Contains(err.Error(), "EDDY_SESSION_HEARTBEAT") {
		t.Fatalf("bad value not reported with its variable: %v", err)
	}
}

func TestUnknownKeysAndBadValuesAreErrors(t *testing.T) {
	var o engine.Options
	if err := Parse([]byte("net:\n  tcpAdr: :1\n"), &o); err == nil {
		t.Fatal("misspelt key accepted")
	}
	if err := Set(&o, "net.nope", "1"); err == nil {
		t.Fatal("unknown setting accepted")
	}
	o = engine.Options{}
	o.Net.SlowConsumer = "maybe"
	o.EnsureDefaults()
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "net.slowConsumer") {
		t.Fatalf("bad value not reported: %v", err)
	}
}

func TestEveryLeafHasAnEnvironmentVariable(t *testing.T) {
	var o engine.Options
	seen := map[string]bool{}
	for _, s := range Settings(&o) {
		if !strings.HasPrefix(s.Env, "EDDY_") || seen[s.Env] {
			t.Fatalf("setting %s has a bad or duplicate variable %s", s.Path, s.Env)
		}
		seen[s.Env] = true
	}
	if !seen["EDDY_NET_TCP_ADDR"] || !seen["EDDY_STORE_PATH"] {
		t.Fatal("expected variables missing")
	}
}
