package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/enginetest"

	"github.com/golang-jwt/jwt/v5"
)

// sseMsg is one server-sent event as the stream carried it.
type sseMsg struct {
	ID      string `json:"-"`
	Topic   string `json:"topic"`
	Action  string `json:"action"`
	Name    string `json:"name"`
	Version *int64 `json:"version"`
	Path    string `json:"path"`
	Data    json.RawMessage
}

// sseStream reads one GET /sse response.
type sseStream struct {
	t        *testing.T
	resp     *http.Response
	msgs     chan sseMsg
	comments chan string
	lastID   string
	peeked   sseMsg
	hasPeek  bool
}

// openSSE connects to /sse?query; it fails the test unless the answer is
// a stream.
func openSSE(t *testing.T, srv *engine.Server, query string, header ...string) *sseStream {
	t.Helper()
	s, status, body := trySSE(t, srv, query, header...)
	if s == nil {
		t.Fatalf("GET /sse?%s: %d %s", query, status, body)
	}
	return s
}

func trySSE(t *testing.T, srv *engine.Server, query string, header ...string) (*sseStream, int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+srv.HTTPAddr()+"/sse?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		return nil, resp.StatusCode, b.String()
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	s := &sseStream{t: t, resp: resp, msgs: make(chan sseMsg, 1024), comments: make(chan string, 1024)}
	t.Cleanup(s.close)
	go s.read()
	return s, resp.StatusCode, ""
}

// read parses the stream per the SSE rules: fields until a blank line.
func (s *sseStream) read() {
	defer close(s.msgs)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var id, data string
	var hasID bool
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				var m sseMsg
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					m = sseMsg{Topic: "unparsable", Name: data}
				}
				if hasID {
					m.ID = id
				}
				s.msgs <- m
			}
			data, hasID = "", false
		case strings.HasPrefix(line, ":"):
			select {
			case s.comments <- line:
			default:
			}
		case strings.HasPrefix(line, "id: "):
			id, hasID = line[4:], true
		case strings.HasPrefix(line, "data: "):
			data += line[6:]
		}
	}
}

func (s *sseStream) close() { _ = s.resp.Body.Close() }

// next returns the next message, remembering the last id as a browser's
// EventSource does.
func (s *sseStream) next() sseMsg {
	s.t.Helper()
	if s.hasPeek {
		s.hasPeek = false
		if s.peeked.ID != "" {
			s.lastID = s.peeked.ID
		}
		return s.peeked
	}
	select {
	case m, ok := <-s.msgs:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		if m.ID != "" {
			s.lastID = m.ID
		}
		return m
	case <-time.After(5 * time.Second):
		s.t.Fatal("no message within 5s")
	}
	return sseMsg{}
}

// expect reads the next message and checks its topic, action and name.
func (s *sseStream) expect(topic, action, name string) sseMsg {
	s.t.Helper()
	m := s.next()
	if m.Topic != topic || m.Action != action || m.Name != name {
		s.t.Fatalf("want %s %s %q, got %+v (data %s)", topic, action, name, m, m.Data)
	}
	return m
}

// ended reports whether the stream closes within d.
func (s *sseStream) ended(d time.Duration) bool {
	select {
	case _, ok := <-s.msgs:
		return !ok
	case <-time.After(d):
		return false
	}
}

func emit(t *testing.T, srv *engine.Server, name, data string) {
	t.Helper()
	out := batch(t, srv, "", `[{"topic":"event","action":"emit","eventName":"`+name+`","data":`+data+`}]`)
	wantOK(t, out.Body[0], "emit "+name)
}

// TestSSEResumeGetsExactlyWhatWasMissed disconnects a stream mid-way,
// publishes while it is away, and resumes with Last-Event-ID.
func TestSSEResumeGetsExactlyWhatWasMissed(t *testing.T) {
	srv := enginetest.Start(t, nil)
	batch(t, srv, "", `[{"topic":"record","action":"write","recordName":"car","data":{"speed":1}}]`)

	s := openSSE(t, srv, "events=news,alerts&records=car")
	m := s.expect("record", "read", "car")
	if m.Version == nil || *m.Version != 1 || !jsonEqual(m.Data, []byte(`{"speed":1}`)) {
		t.Fatalf("initial state %+v %s", m, m.Data)
	}
	ready := s.expect("stream", "ready", "")
	if ready.ID == "" {
		t.Fatal("ready carries no id")
	}

	emit(t, srv, "news", `{"n":1}`)
	batch(t, srv, "", `[{"topic":"record","action":"write","recordName":"car","path":"speed","data":2}]`)
	emit(t, srv, "alerts", `"low fuel"`)
	if m := s.expect("event", "emit", "news"); !jsonEqual(m.Data, []byte(`{"n":1}`)) || m.ID == "" {
		t.Fatalf("news %+v", m)
	}
	if m := s.expect("record", "patch", "car"); *m.Version != 2 || m.Path != "speed" || string(m.Data) != "2" {
		t.Fatalf("patch %+v", m)
	}
	s.expect("event", "emit", "alerts")
	last := s.lastID
	s.close()

	// While the stream is away: events, a record change, events on a name
	// it does not watch.
	batch(t, srv, "", `[
		{"topic":"event","action":"emit","eventName":"news","data":{"n":2}},
		{"topic":"event","action":"emit","eventName":"elsewhere","data":0},
		{"topic":"record","action":"write","recordName":"car","data":{"speed":3,"gear":2}},
		{"topic":"event","action":"emit","eventName":"alerts","data":"fuel ok"},
		{"topic":"event","action":"emit","eventName":"news","data":{"n":3}}]`)

	s = openSSE(t, srv, "events=news,alerts&records=car", "Last-Event-ID", last)
	want := []struct{ topic, action, name, data string }{
		{"event", "emit", "news", `{"n":2}`},
		{"record", "update", "car", `{"speed":3,"gear":2}`},
		{"event", "emit", "alerts", `"fuel ok"`},
		{"event", "emit", "news", `{"n":3}`},
	}
	prev := last
	for _, w := range want {
		m := s.expect(w.topic, w.action, w.name)
		if !jsonEqual(m.Data, []byte(w.data)) {
			t.Fatalf("%s: data %s, want %s", w.name, m.Data, w.data)
		}
		if !idAfter(m.ID, prev) {
			t.Fatalf("id %q does not follow %q", m.ID, prev)
		}
		prev = m.ID
	}
	if m := s.expect("stream", "ready", ""); !idAfter(m.ID, prev) && m.ID != prev {
		t.Fatalf("ready id %q after %q", m.ID, prev)
	}

	// And it is live again.
	emit(t, srv, "news", `{"n":4}`)
	if m := s.expect("event", "emit", "news"); !jsonEqual(m.Data, []byte(`{"n":4}`)) {
		t.Fatalf("live after resume: %s", m.Data)
	}

	// A resume from the ready id of an idle stream gets nothing old.
	s.close()
	s = openSSE(t, srv, "events=news,alerts&records=car", "Last-Event-ID", s.lastID)
	s.expect("stream", "ready", "")
}

// idAfter compares two ids of the same run: "<epoch>-<n>".
func idAfter(a, b string) bool {
	ea, na, _ := strings.Cut(a, "-")
	eb, nb, _ := strings.Cut(b, "-")
	return ea == eb && len(na) >= len(nb) && (len(na) > len(nb) || na > nb)
}

// TestSSEGapWhenHistoryIsOutrun resumes after more changes than the history
// keeps, after the history expired, and from an id of another run.
func TestSSEGapWhenHistoryIsOutrun(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.HTTP.SSEHistory = 3
		o.HTTP.SSERetention = 150 * time.Millisecond
	})
	s := openSSE(t, srv, "events=ticks&records=gauge")
	s.expect("record", "read", "gauge")
	s.expect("stream", "ready", "")
	last := s.lastID
	s.close()

	var msgs []string
	for i := 1; i <= 10; i++ {
		msgs = append(msgs, `{"topic":"event","action":"emit","eventName":"ticks","data":`+itoa(i)+`}`)
		msgs = append(msgs, `{"topic":"record","action":"write","recordName":"gauge","path":"v","data":`+itoa(i)+`}`)
	}
	batch(t, srv, "", "["+strings.Join(msgs, ",")+"]")

	s = openSSE(t, srv, "events=ticks&records=gauge", "Last-Event-ID", last)
	gaps := map[string]bool{}
	gaps[s.expect(s.peekTopic(), "gap", s.peekName()).Name] = true
	gaps[s.expect(s.peekTopic(), "gap", s.peekName()).Name] = true
	if !gaps["ticks"] || !gaps["gauge"] {
		t.Fatalf("gaps for %v", gaps)
	}
	// The events the history still holds follow the gap, in order; the
	// record starts over from its current state.
	for i := 8; i <= 10; i++ {
		if m := s.expect("event", "emit", "ticks"); string(m.Data) != itoa(i) {
			t.Fatalf("tick %s, want %d", m.Data, i)
		}
	}
	if m := s.expect("record", "read", "gauge"); *m.Version != 10 || !jsonEqual(m.Data, []byte(`{"v":10}`)) {
		t.Fatalf("gauge state %+v %s", m, m.Data)
	}
	s.expect("stream", "ready", "")
	last = s.lastID
	s.close()

	// The names expire after the retention; whatever happens after that
	// is not recorded, so resuming reports a gap.
	time.Sleep(600 * time.Millisecond)
	emit(t, srv, "ticks", "11")
	s = openSSE(t, srv, "events=ticks", "Last-Event-ID", last)
	s.expect("event", "gap", "ticks")
	s.expect("stream", "ready", "")
	s.close()

	// An id from another run (or garbage) is a gap too.
	s = openSSE(t, srv, "events=ticks", "Last-Event-ID", "zzzz-5")
	s.expect("event", "gap", "ticks")
	s.expect("stream", "ready", "")
	s.close()
	s = openSSE(t, srv, "events=ticks&lastEventId=garbage")
	s.expect("event", "gap", "ticks")
}

// peekTopic and peekName let a test accept messages of several names in
// either order: they look at the next message without consuming it.
func (s *sseStream) peekTopic() string { s.peek(); return s.peeked.Topic }
func (s *sseStream) peekName() string  { s.peek(); return s.peeked.Name }

func (s *sseStream) peek() {
	if !s.hasPeek {
		s.peeked = s.next()
		s.hasPeek = true
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestSSERecordLifecycle follows a record through writes, a delete and
// its re-creation.
func TestSSERecordLifecycle(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) { o.HTTP.SSEHeartbeat = 50 * time.Millisecond })
	s := openSSE(t, srv, "record=a,b")
	if m := s.expect("record", "read", "a,b"); *m.Version != 0 || string(m.Data) != "{}" {
		t.Fatalf("missing record state %+v %s", m, m.Data)
	}
	s.expect("stream", "ready", "")
	batch(t, srv, "", `[
		{"topic":"record","action":"write","recordName":"a,b","data":{"x":{"y":1},"z":[1,2]}},
		{"topic":"record","action":"erase","recordName":"a,b","path":"x.y"},
		{"topic":"record","action":"delete","recordName":"a,b"}]`)
	if m := s.expect("record", "update", "a,b"); *m.Version != 1 || !jsonEqual(m.Data, []byte(`{"x":{"y":1},"z":[1,2]}`)) {
		t.Fatalf("update %+v", m)
	}
	if m := s.expect("record", "erase", "a,b"); *m.Version != 2 || m.Path != "x.y" {
		t.Fatalf("erase %+v", m)
	}
	s.expect("record", "delete", "a,b")

	// The name stays watched after the delete: a new record of that name
	// streams too.
	time.Sleep(50 * time.Millisecond)
	batch(t, srv, "", `[{"topic":"record","action":"write","recordName":"a,b","path":"again","data":true}]`)
	m := s.next()
	switch {
	case m.Action == "patch" && *m.Version == 1 && m.Path == "again" && string(m.Data) == "true":
	case m.Action == "update" && *m.Version == 1 && jsonEqual(m.Data, []byte(`{"again":true}`)):
	default:
		t.Fatalf("after re-creation: %+v %s", m, m.Data)
	}
	select {
	case c := <-s.comments:
		if c != ": heartbeat" {
			t.Fatalf("comment %q", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no heartbeat")
	}
}

// TestSSEAuthAndPermissions applies the login strategies and the
// subscribe/read rules to streams.
func TestSSEAuthAndPermissions(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "permissions.yml")
	if err := os.WriteFile(rules, []byte(`
record:
  "*": { read: true, write: true, create: true }
  "secret/*": { read: "user.id == 'ann'" }
event:
  "*": { publish: true, subscribe: true }
  "private/*": { subscribe: "user.data.role == 'admin'" }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Auth.Strategies = []auth.StrategyConfig{{Type: "jwt", JWT: auth.JWTConfig{HMACSecret: jwtSecret}}}
		o.Valve.Path = rules
	})
	ann := signed(t, jwt.MapClaims{"sub": "ann", "role": "admin"})
	bob := signed(t, jwt.MapClaims{"sub": "bob"})

	s := openSSE(t, srv, "events=private/x&records=secret/plan&token="+ann)
	s.expect("record", "read", "secret/plan")
	s.expect("stream", "ready", "")
	s = openSSE(t, srv, "events=private/x", "Authorization", "Bearer "+ann)
	s.expect("stream", "ready", "")
	s = openSSE(t, srv, "events=public&authData="+`{"token":"`+bob+`"}`)
	s.expect("stream", "ready", "")

	for name, c := range map[string]struct {
		query  string
		header []string
		status int
		error  string
	}{
		"bob subscribes privately": {"events=public,private/x&token=" + bob, nil, 403, "PermissionDenied"},
		"bob reads a secret":       {"records=secret/plan", []string{"Authorization", "Bearer " + bob}, 403, "PermissionDenied"},
		"no credentials":           {"events=public", nil, 401, "InvalidCredentials"},
		"forged token":             {"events=public&token=" + ann[:30], nil, 401, "InvalidCredentials"},
		"no names":                 {"token=" + ann, nil, 400, "InvalidNames"},
		"empty name":               {"events=a,,b&token=" + ann, nil, 400, "InvalidNames"},
		"bad authData":             {"events=a&authData=nope", nil, 400, "InvalidData"},
	} {
		_, status, body := trySSE(t, srv, c.query, c.header...)
		var e apiResponse
		_ = json.Unmarshal([]byte(body), &e)
		if status != c.status || e.Error != c.error || e.Message == "" {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	if resp, err := http.Post("http://"+srv.HTTPAddr()+"/sse", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /sse: %v %v", resp, err)
	}
}

// TestSSEEndsAtShutdown checks a stream does not hold the server up.
func TestSSEEndsAtShutdown(t *testing.T) {
	srv := enginetest.Start(t, nil)
	s := openSSE(t, srv, "events=a")
	s.expect("stream", "ready", "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if !s.ended(2 * time.Second) {
		t.Fatal("stream still open after shutdown")
	}
}
