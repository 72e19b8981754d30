package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hook is a webhook served by httptest: it answers by the "username" in the
// auth data and records what it was sent.
type hook struct {
	srv   *httptest.Server
	calls atomic.Int32
	last  atomic.Pointer[hookCall]
}

type hookCall struct {
	body   webhookRequestSeen
	header http.Header
	method string
}

type webhookRequestSeen struct {
	AuthData   json.RawMessage   `json:"authData"`
	RemoteAddr string            `json:"remoteAddr"`
	Headers    map[string]string `json:"headers"`
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		var body webhookRequestSeen
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		h.last.Store(&hookCall{body: body, header: r.Header.Clone(), method: r.Method})
		var data struct {
			Username string `json:"username"`
		}
		json.Unmarshal(body.AuthData, &data)
		switch data.Username {
		case "ann":
			w.Write([]byte(`{"id":"ann","clientData":{"name":"Ann"},"serverData":{"role":"admin"}}`))
		case "bo":
			w.Write([]byte(`{"username":"bo","serverData":null}`))
		case "anon":
			w.WriteHeader(http.StatusNoContent)
		case "mallory":
			w.WriteHeader(http.StatusUnauthorized)
		case "banned":
			w.WriteHeader(http.StatusForbidden)
		case "stranger":
			w.WriteHeader(http.StatusNotFound)
		case "broken":
			w.WriteHeader(http.StatusInternalServerError)
		case "garbage":
			w.Write([]byte(`<html>`))
		case "wrongtype":
			w.Write([]byte(`{"id": 5}`))
		case "huge":
			w.Write([]byte(`{"id":"h","serverData":"` + strings.Repeat("x", maxWebhookAnswer) + `"}`))
		case "redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			http.Error(w, "unexpected user", http.StatusTeapot)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func newWebhook(t *testing.T, cfg HTTPConfig) *webhookStrategy {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	s, err := newWebhookStrategy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

func TestWebhookAnswers(t *testing.T) {
	h := newHook(t)
	s := newWebhook(t, HTTPConfig{
		URL:            h.srv.URL + "/auth",
		ForwardHeaders: []string{"cookie", "X-Real-Ip"},
		RequestHeaders: map[string]string{"Authorization": "Bearer hook-secret"},
		Timeout:        300 * time.Millisecond,
	})
	req := &Request{
		Data:       []byte(`{"username":"ann","password":"pw"}`),
		RemoteAddr: "192.0.2.1:5555",
		Header:     http.Header{"Cookie": {"a=1", "b=2"}, "User-Agent": {"test"}},
	}
	res, err := s.Authenticate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "ann" || string(res.ClientData) != `{"name":"Ann"}` || string(res.ServerData) != `{"role":"admin"}` {
		t.Fatalf("got %+v", res)
	}
	last := h.last.Load()
	if last.method != http.MethodPost || last.header.Get("Authorization") != "Bearer hook-secret" ||
		last.header.Get("Content-Type") != "application/json" {
		t.Fatalf("request %s headers %v", last.method, last.header)
	}
	if string(last.body.AuthData) != string(req.Data) || last.body.RemoteAddr != "192.0.2.1:5555" {
		t.Fatalf("body %+v", last.body)
	}
	if len(last.body.Headers) != 1 || last.body.Headers["Cookie"] != "a=1; b=2" {
		t.Fatalf("forwarded headers %v, want only Cookie", last.body.Headers)
	}

	res, err = login(t, s, `{"username":"bo"}`)
	if err != nil || res.ID != "bo" || res.ServerData != nil || res.ClientData != nil {
		t.Fatalf("username answer: %+v %v", res, err)
	}
	res, err = login(t, s, `{"username":"anon"}`)
	if err != nil || res.ID != "" {
		t.Fatalf("empty answer: %+v %v", res, err)
	}

	for user, want := range map[string]error{
		"mallory":   ErrInvalidCredentials,
		"banned":    ErrInvalidCredentials,
		"stranger":  ErrUnknownUser,
		"broken":    ErrUnavailable,
		"garbage":   ErrUnavailable,
		"wrongtype": ErrUnavailable,
		"huge":      ErrUnavailable,
		"redirect":  ErrUnavailable,
	} {
		_, err := login(t, s, `{"username":"`+user+`"}`)
		wantErr(t, err, want)
	}

	// Auth data that is not JSON never reaches the webhook.
	before := h.calls.Load()
	_, err = login(t, s, `{"username":`)
	wantErr(t, err, ErrInvalidCredentials)
	if h.calls.Load() != before {
		t.Fatal("malformed auth data was sent to the webhook")
	}
	// No auth data is sent as null.
	if _, err := login(t, s, ``); err == nil {
		t.Fatal("empty data accepted by a webhook that knows no such user")
	}
	if got := string(h.last.Load().body.AuthData); got != "null" {
		t.Fatalf("empty auth data sent as %q", got)
	}
}

func TestWebhookTimeout(t *testing.T) {
	h := newHook(t)
	s := newWebhook(t, HTTPConfig{URL: h.srv.URL, Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := login(t, s, `{"username":"slow"}`)
	wantErr(t, err, ErrUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout error %q does not say so", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("timed out after %v, want about 50ms", d)
	}

	// The caller's context also ends the call.
	s = newWebhook(t, HTTPConfig{URL: h.srv.URL, Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = s.Authenticate(ctx, &Request{Data: []byte(`{"username":"slow"}`)})
	wantErr(t, err, ErrUnavailable)
}

func TestWebhookDown(t *testing.T) {
	h := newHook(t)
	url := h.srv.URL
	h.srv.Close()
	s := newWebhook(t, HTTPConfig{URL: url})
	_, err := login(t, s, `{"username":"ann"}`)
	wantErr(t, err, ErrUnavailable)
}

func TestWebhookCache(t *testing.T) {
	h := newHook(t)
	s := newWebhook(t, HTTPConfig{URL: h.srv.URL, CacheTTL: time.Minute, CacheSize: 2, ForwardHeaders: []string{"Cookie"}})
	clock := time.Now()
	s.cache.now = func() time.Time { return clock }
	ctx := context.Background()
	ann := &Request{Data: []byte(`{"username":"ann"}`), Header: http.Header{"Cookie": {"s=1"}}}

	for range 3 {
		res, err := s.Authenticate(ctx, ann)
		if err != nil || res.ID != "ann" || string(res.ServerData) != `{"role":"admin"}` {
			t.Fatalf("got %+v %v", res, err)
		}
	}
	if n := h.calls.Load(); n != 1 {
		t.Fatalf("webhook called %d times for one cached login, want 1", n)
	}
	// Different forwarded headers are a different key.
	if _, err := s.Authenticate(ctx, &Request{Data: ann.Data, Header: http.Header{"Cookie": {"s=2"}}}); err != nil {
		t.Fatal(err)
	}
	if n := h.calls.Load(); n != 2 {
		t.Fatalf("calls %d, want 2", n)
	}
	// Failures are not cached.
	for range 2 {
		_, err := login(t, s, `{"username":"mallory"}`)
		wantErr(t, err, ErrInvalidCredentials)
	}
	if n := h.calls.Load(); n != 4 {
		t.Fatalf("calls %d, want 4 (refusals cached?)", n)
	}
	// After the TTL the webhook is asked again.
	clock = clock.Add(time.Minute)
	if _, err := s.Authenticate(ctx, ann); err != nil {
		t.Fatal(err)
	}
	if n := h.calls.Load(); n != 5 {
		t.Fatalf("calls %d, want 5 (expired entry served?)", n)
	}
	if s.cache.len() > 2 {
		t.Fatalf("cache holds %d entries, bound is 2", s.cache.len())
	}
}

func TestChainWebhookUnknownFallsThrough(t *testing.T) {
	h := newHook(t)
	c, err := New(Config{Strategies: []StrategyConfig{
		{Type: "http", HTTP: HTTPConfig{URL: h.srv.URL}},
		{Type: "none"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Authenticate(context.Background(), &Request{Data: []byte(`{"username":"stranger"}`)})
	if err != nil || res.ID != "stranger" {
		t.Fatalf("404 did not fall through: %+v %v", res, err)
	}
	_, err = c.Authenticate(context.Background(), &Request{Data: []byte(`{"username":"mallory"}`)})
	wantErr(t, err, ErrInvalidCredentials)
	_, err = c.Authenticate(context.Background(), &Request{Data: []byte(`{"username":"broken"}`)})
	wantErr(t, err, ErrUnavailable)
}
