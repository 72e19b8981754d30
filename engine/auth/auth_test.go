package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var sentinels = []error{ErrUnknownUser, ErrInvalidCredentials, ErrUnavailable}

// wantErr fails unless err wraps want and none of the other sentinels.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Fatalf("error %q wraps %v as well as the wanted %v", err, s, want)
		}
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %v", err, want)
	}
	if !strings.HasPrefix(err.Error(), "auth: ") {
		t.Fatalf("error %q lacks the auth: prefix", err)
	}
}

func login(t *testing.T, s interface {
	Authenticate(context.Context, *Request) (Result, error)
}, data string) (Result, error) {
	t.Helper()
	return s.Authenticate(context.Background(), &Request{Data: []byte(data), RemoteAddr: "127.0.0.1:5000"})
}

func TestNone(t *testing.T) {
	for _, tc := range []struct {
		data, id string
		fail     bool
	}{
		{data: "", id: ""},
		{data: "  \n", id: ""},
		{data: "null", id: ""},
		{data: "{}", id: ""},
		{data: `{"username":"ann"}`, id: "ann"},
		{data: `{"username":"\u00e9va","password":"x"}`, id: "éva"},
		{data: `{"username":null}`, id: ""},
		{data: `{"username":3}`, fail: true},
		{data: `[1]`, fail: true},
		{data: `"ann"`, fail: true},
		{data: `{"username":`, fail: true},
	} {
		res, err := login(t, noneStrategy{}, tc.data)
		if tc.fail {
			wantErr(t, err, ErrInvalidCredentials)
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.data, err)
		}
		if res.ID != tc.id || res.ClientData != nil || res.ServerData != nil || !res.ExpiresAt.IsZero() {
			t.Fatalf("%q: got %+v, want id %q", tc.data, res, tc.id)
		}
	}
}

func TestNewEmptyConfigIsNone(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Names(); len(got) != 1 || got[0] != "none" {
		t.Fatalf("strategies %v, want [none]", got)
	}
	res, err := c.Authenticate(context.Background(), &Request{Data: []byte(`{"username":"bo"}`)})
	if err != nil || res.ID != "bo" {
		t.Fatalf("got %+v, %v", res, err)
	}
	if res, err := c.Authenticate(context.Background(), nil); err != nil || res.ID != "" {
		t.Fatalf("nil request: got %+v, %v", res, err)
	}
}

// fixed is a Strategy with a canned answer that counts its calls.
type fixed struct {
	name  string
	res   Result
	err   error
	calls int
}

func (f *fixed) Name() string { return f.name }
func (f *fixed) Authenticate(context.Context, *Request) (Result, error) {
	f.calls++
	return f.res, f.err
}

func TestChainOrder(t *testing.T) {
	unknown := &fixed{name: "a", err: ErrUnknownUser}
	refuse := &fixed{name: "b", err: ErrInvalidCredentials}
	down := &fixed{name: "c", err: ErrUnavailable}
	accept := &fixed{name: "d", res: Result{ID: "x"}}

	res, err := NewChain(unknown, accept, refuse).Authenticate(context.Background(), &Request{})
	if err != nil || res.ID != "x" || refuse.calls != 0 {
		t.Fatalf("unknown then accept: %+v %v (refuse called %d)", res, err, refuse.calls)
	}
	_, err = NewChain(refuse, accept).Authenticate(context.Background(), &Request{})
	wantErr(t, err, ErrInvalidCredentials)
	_, err = NewChain(down, accept).Authenticate(context.Background(), &Request{})
	wantErr(t, err, ErrUnavailable)
	if accept.calls != 1 {
		t.Fatalf("a refusal or an outage fell through: accept called %d times", accept.calls)
	}
	_, err = NewChain(unknown, unknown).Authenticate(context.Background(), &Request{})
	wantErr(t, err, ErrUnknownUser)
	_, err = NewChain().Authenticate(context.Background(), &Request{})
	wantErr(t, err, ErrUnknownUser)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string // substring of the error; "" = valid
	}{
		{"empty", `strategies: []`, ""},
		{"none", `strategies: [{type: none}]`, ""},
		{"unknown type", `strategies: [{type: ldap}]`, `unknown type "ldap"`},
		{"missing type", `strategies: [{path: x}]`, `unknown type ""`},
		{"file without path", `strategies: [{type: file}]`, "path is required"},
		{"field of another type", `strategies: [{type: file, path: u.yml, url: "http://x"}]`, `settings of a "http" strategy`},
		{"none with fields", `strategies: [{type: none, path: u.yml}]`, `settings of a "file" strategy`},
		{"unreachable after none", `strategies: [{type: none}, {type: file, path: u.yml}]`, "strategy 2 (file) is never tried"},
		{"jwt without key", `strategies: [{type: jwt, issuer: me}]`, "no key"},
		{"jwt short secret", `strategies: [{type: jwt, hmacSecret: short}]`, "at least 32"},
		{"jwt two secrets", `strategies: [{type: jwt, hmacSecret: "` + strings.Repeat("k", 32) + `", hmacSecretFile: f}]`, "exclusive"},
		{"jwt ok", `strategies: [{type: jwt, hmacSecret: "` + strings.Repeat("k", 32) + `", leeway: 5s}]`, ""},
		{"header without proxies", `strategies: [{type: header}]`, "trustedProxies is required"},
		{"header bad cidr", `strategies: [{type: header, trustedProxies: [10.0.0.0/33]}]`, "neither a CIDR"},
		{"header ok", `strategies: [{type: header, trustedProxies: [10.0.0.0/8, "::1"]}]`, ""},
		{"http bad url", `strategies: [{type: http, url: "ftp://x"}]`, "not an http or https URL"},
		{"http negative", `strategies: [{type: http, url: "http://x", timeout: -1s}]`, "must not be negative"},
		{"http bad header", `strategies: [{type: http, url: "http://x", requestHeaders: {"a b": c}}]`, "bad header name"},
		{"http ok", `strategies: [{type: http, url: "https://x/auth", timeout: 1s, cacheTTL: 10s, forwardHeaders: [cookie]}]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			if err := yaml.Unmarshal([]byte(tc.yaml), &cfg); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, nerr := New(cfg); nerr == nil {
				t.Fatal("New accepted a config Validate refused")
			}
		})
	}
}

// The config survives a YAML round trip (engine/config prints it back) and
// prints only the fields that are set.
func TestConfigYAMLRoundTrip(t *testing.T) {
	in := `strategies:
    - type: file
      path: users.yml
      reloadInterval: 5s
    - type: http
      url: http://127.0.0.1:1/auth
      timeout: 1.5s
      forwardHeaders:
        - Cookie
      cacheTTL: 30s
`
	var cfg Config
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Strategies[0].File.ReloadInterval.Seconds() != 5 || cfg.Strategies[1].HTTP.Timeout.Milliseconds() != 1500 {
		t.Fatalf("durations not parsed: %+v", cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	out2, _ := yaml.Marshal(back)
	if string(out) != string(out2) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", out, out2)
	}
	if strings.Contains(string(out), "hmacSecret") || strings.Contains(string(out), "trustedProxies") {
		t.Fatalf("unset fields printed:\n%s", out)
	}
}
