package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/engine/presence"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/engine/session"
)

// newTestAPI builds an API over a real session manager and in-memory
// tables, without sockets.
func newTestAPI(tb testing.TB, opts Options) *API {
	tb.Helper()
	var wg sync.WaitGroup
	spawn := func(_ string, fn func()) bool {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
		return true
	}
	events := event.New()
	records := record.New(newMemPersister(), spawn, record.Options{})
	m := session.NewManager(session.Config{Auth: session.Open{}, Events: events, Records: records, Presence: presence.New(), Go: spawn})
	a := New(Config{Options: opts, Handler: m, Events: events, Records: records, Go: spawn})
	tb.Cleanup(func() { a.Drain(); wg.Wait() })
	return a
}

func post(a *API, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("POST", "/api", strings.NewReader(body)))
	return rec
}

func TestAPIWithoutSockets(t *testing.T) {
	a := newTestAPI(t, Options{})
	rec := post(a, `{"authData":{"username":"ann"},"body":[
		{"topic":"record","action":"write","name":"r","data":{"a":1}},
		{"topic":"record","action":"read","name":"r"},
		{"topic":"presence","action":"query"},
		{"topic":"rpc","action":"make","name":"f"}]}`)
	var out Response
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !out.Body[0].Success || !out.Body[1].Success || string(out.Body[1].Data) != `{"a":1}` || string(out.Body[2].Data) != `[]` {
		t.Fatalf("%+v", out.Body)
	}
	// No RPC table: the session answers as it does for a client.
	if out.Body[3].Error != "UnknownAction" {
		t.Fatalf("rpc without a table: %+v", out.Body[3])
	}
	if rec := post(a, `{"body":[{}]}`); rec.Code != 200 {
		t.Fatalf("after: %d", rec.Code)
	}
	a.Drain()
	if rec := post(a, `{"body":[{}]}`); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("draining: %d", rec.Code)
	}
}

// FuzzAPIRequest posts arbitrary bodies: the handler never panics, always
// answers JSON, and a batch that ran has one result per message.
func FuzzAPIRequest(f *testing.F) {
	f.Add(`{"body":[{"topic":"record","action":"write","recordName":"a","path":"x[3]","data":[1]}]}`)
	f.Add(`{"token":"t","body":[{"topic":"event","action":"emit","eventName":"e","data":"\u0000"},{"topic":"record","action":"read","name":""}]}`)
	f.Add(`{"authData":{"username":"u"},"body":[{"topic":"presence","action":"query","names":["a","b"]},{"topic":"rpc","action":"make","rpcName":"r","timeout":-1}]}`)
	f.Add(`{"body":[{"topic":"record","action":"write","recordName":"a","version":-5,"data":{}},{"topic":"record","action":"erase","recordName":"a","path":"..."}]}`)
	f.Add(`{"body":[1,null,[],"x",{"topic":7}]}`)
	f.Add(`{"body":`)
	a := newTestAPI(f, Options{Timeout: 2 * time.Second, MaxBody: 64 << 10})
	f.Fuzz(func(t *testing.T, body string) {
		rec := post(a, body)
		var out struct {
			Result string
			Body   []Result
			Error  string
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON (%d): %q", rec.Code, rec.Body)
		}
		if rec.Code != 200 {
			if out.Error == "" {
				t.Fatalf("%d without an error name: %s", rec.Code, rec.Body)
			}
			return
		}
		var req struct{ Body []json.RawMessage }
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatalf("ran a body that does not parse: %q", body)
		}
		if len(out.Body) != len(req.Body) {
			t.Fatalf("%d results for %d messages", len(out.Body), len(req.Body))
		}
		for _, r := range out.Body {
			if !r.Success && (r.Error == "" || r.Message == "") {
				t.Fatalf("failure without a name or message: %+v", r)
			}
		}
	})
}
