package engine_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol/fb"

	"github.com/golang-jwt/jwt/v5"
)

// apiResult mirrors one element of a POST /api answer.
type apiResult struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Version *int64          `json:"version"`
	Error   string          `json:"error"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
}

type apiResponse struct {
	Result  string      `json:"result"`
	Body    []apiResult `json:"body"`
	Error   string      `json:"error"`
	Code    int         `json:"code"`
	Message string      `json:"message"`
}

// postAPI sends body to POST /api and decodes the answer.
func postAPI(t *testing.T, srv *engine.Server, body string, header ...string) (int, apiResponse) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+srv.HTTPAddr()+"/api", strings.NewReader(body))
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
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q: %s", ct, raw)
	}
	var out apiResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, out
}

// batch posts messages (a JSON array) with optional credentials and
// checks the request ran.
func batch(t *testing.T, srv *engine.Server, creds, messages string) apiResponse {
	t.Helper()
	body := `{"body":` + messages + `}`
	if creds != "" {
		body = `{` + creds + `,"body":` + messages + `}`
	}
	status, out := postAPI(t, srv, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %+v", status, out)
	}
	return out
}

func wantOK(t *testing.T, r apiResult, what string) {
	t.Helper()
	if !r.Success {
		t.Fatalf("%s: failed with %s (%d): %s", what, r.Error, r.Code, r.Message)
	}
}

func wantErr(t *testing.T, r apiResult, name, what string) {
	t.Helper()
	if r.Success || r.Error != name {
		t.Fatalf("%s: want error %s, got %+v", what, name, r)
	}
	if r.Message == "" {
		t.Fatalf("%s: error without a message", what)
	}
}

func wantVersion(t *testing.T, r apiResult, v int64, what string) {
	t.Helper()
	if r.Version == nil || *r.Version != v {
		t.Fatalf("%s: want version %d, got %+v", what, v, r)
	}
}

func wantData(t *testing.T, r apiResult, want, what string) {
	t.Helper()
	if !jsonEqual(r.Data, []byte(want)) {
		t.Fatalf("%s: data %s, want %s", what, r.Data, want)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestHTTPAPIRecords runs every record action over HTTP, one batch after
// another, and checks a connected subscriber sees the HTTP writes.
func TestHTTPAPIRecords(t *testing.T) {
	srv := enginetest.Start(t, nil)
	sub := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	sub.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 5, Name: "driver/14"})
	sub.Expect(fb.TopicRecord, fb.ActionReadResult)

	out := batch(t, srv, "", `[
		{"topic":"record","action":"has","recordName":"driver/14"},
		{"topic":"record","action":"head","recordName":"driver/14"},
		{"topic":"record","action":"write","recordName":"driver/14","data":{"name":"Ann","speed":10}},
		{"topic":"record","action":"write","recordName":"driver/14","path":"speed","data":22},
		{"topic":"record","action":"read","recordName":"driver/14"},
		{"topic":"record","action":"erase","recordName":"driver/14","path":"name"},
		{"topic":"record","action":"snapshot","recordName":"driver/14"},
		{"topic":"record","action":"head","recordName":"driver/14"},
		{"topic":"record","action":"has","recordName":"driver/14"}]`)
	if out.Result != "SUCCESS" || len(out.Body) != 9 {
		t.Fatalf("result %s with %d results: %+v", out.Result, len(out.Body), out.Body)
	}
	for i, r := range out.Body {
		wantOK(t, r, "message "+string(rune('0'+i)))
	}
	wantData(t, out.Body[0], "true", "has (a read created it)")
	wantVersion(t, out.Body[1], 0, "head of the created record")
	wantVersion(t, out.Body[2], 1, "whole write")
	wantVersion(t, out.Body[3], 2, "path write")
	wantVersion(t, out.Body[4], 2, "read")
	wantData(t, out.Body[4], `{"name":"Ann","speed":22}`, "read")
	wantVersion(t, out.Body[5], 3, "erase")
	wantData(t, out.Body[6], `{"speed":22}`, "snapshot")
	wantVersion(t, out.Body[7], 3, "head")

	// The subscriber saw each write, in order, as for any writer.
	if v := sub.Expect(fb.TopicRecord, fb.ActionUpdate); v.Version() != 1 {
		t.Fatalf("update version %d", v.Version())
	}
	if v := sub.Expect(fb.TopicRecord, fb.ActionPatch); v.Version() != 2 || string(v.Path()) != "speed" || string(v.DataBytes()) != "22" {
		t.Fatalf("patch %d %s %s", v.Version(), v.Path(), v.DataBytes())
	}
	if v := sub.Expect(fb.TopicRecord, fb.ActionErasePath); v.Version() != 3 || string(v.Path()) != "name" {
		t.Fatalf("erase %d %s", v.Version(), v.Path())
	}

	// Writes are durable when acknowledged.
	if r, err := srv.Store().Get("driver/14"); err != nil || r.Version != 3 {
		t.Fatalf("store holds %+v, %v", r, err)
	}

	// Versioned writes: the next version applies, an old one is refused
	// with the current state to merge with, and so is every later
	// versioned write of the batch to that record (it may build on the
	// refused one), even with the right version.
	out = batch(t, srv, "", `[
		{"topic":"record","action":"write","recordName":"driver/14","version":4,"path":"speed","data":30},
		{"topic":"record","action":"write","recordName":"driver/14","version":4,"path":"speed","data":31},
		{"topic":"record","action":"write","recordName":"driver/14","version":5,"path":"speed","data":32}]`)
	wantVersion(t, out.Body[0], 4, "versioned write")
	wantErr(t, out.Body[1], "VersionExists", "stale versioned write")
	wantVersion(t, out.Body[1], 4, "VersionExists carries the current version")
	wantData(t, out.Body[1], `{"speed":30}`, "VersionExists carries the current document")
	wantErr(t, out.Body[2], "VersionExists", "write after a refused one")
	wantVersion(t, out.Body[2], 4, "its VersionExists carries the current version")
	if out.Result != "PARTIAL_SUCCESS" {
		t.Fatalf("result %s", out.Result)
	}
	out = batch(t, srv, "", `[
		{"topic":"record","action":"write","recordName":"driver/14","version":9,"path":"speed","data":32}]`)
	wantErr(t, out.Body[0], "InvalidVersion", "version from the future")

	out = batch(t, srv, "", `[
		{"topic":"record","action":"delete","recordName":"driver/14"},
		{"topic":"record","action":"has","recordName":"driver/14"},
		{"topic":"record","action":"head","recordName":"driver/14"},
		{"topic":"record","action":"read","recordName":"driver/14"}]`)
	wantOK(t, out.Body[0], "delete")
	wantData(t, out.Body[1], "false", "has after delete")
	wantVersion(t, out.Body[2], -1, "head after delete")
	wantErr(t, out.Body[3], "RecordNotFound", "read after delete")
	sub.Expect(fb.TopicRecord, fb.ActionPatch)
	sub.Expect(fb.TopicRecord, fb.ActionDeleted)
	if _, err := srv.Store().Get("driver/14"); err == nil {
		t.Fatal("deleted record still stored")
	}
}

// TestHTTPAPIEventsRPCPresence emits, calls a provider and queries presence.
func TestHTTPAPIEventsRPCPresence(t *testing.T) {
	srv := enginetest.Start(t, nil)
	sub := enginetest.DialTCP(t, srv.TCPAddr())
	sub.Handshake()
	sub.Login(`{"username":"ann"}`)
	sub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: "news/sport"})
	sub.Expect(fb.TopicEvent, fb.ActionAck)

	prov := enginetest.DialWS(t, srv.WSAddr(), false)
	prov.Handshake()
	prov.Login(`{"username":"adder"}`)
	prov.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: 3, Name: "add-two"})
	prov.Expect(fb.TopicRpc, fb.ActionAck)
	go func() {
		// The provider answers every request with data+2.
		for {
			v, err := prov.Next()
			if err != nil {
				return
			}
			if v.Topic() != fb.TopicRpc || v.Action() != fb.ActionRequest {
				continue
			}
			id := v.Id()
			var n int
			_ = json.Unmarshal(v.DataBytes(), &n)
			res, _ := json.Marshal(n + 2)
			if prov.TrySend(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionAccept, ID: id}) != nil ||
				prov.TrySend(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionResponse, ID: id, Data: res}) != nil {
				return // closed by the test's cleanup
			}
		}
	}()

	out := batch(t, srv, `"authData":{"username":"backend"}`, `[
		{"topic":"event","action":"emit","eventName":"news/sport","data":{"score":[2,1]}},
		{"topic":"rpc","action":"make","rpcName":"add-two","data":5},
		{"topic":"rpc","action":"make","rpcName":"nobody-provides-this","data":1},
		{"topic":"presence","action":"query"},
		{"topic":"presence","action":"query","names":["ann","zed"]},
		{"topic":"event","action":"emit","eventName":"news/sport"}]`)
	wantOK(t, out.Body[0], "emit")
	wantOK(t, out.Body[1], "rpc make")
	wantData(t, out.Body[1], "7", "rpc response")
	wantErr(t, out.Body[2], "NoRpcProvider", "rpc without provider")
	wantOK(t, out.Body[3], "presence query")
	var online []string
	if err := json.Unmarshal(out.Body[3].Data, &online); err != nil {
		t.Fatal(err)
	}
	if strings.Join(online, ",") != "adder,ann" && strings.Join(online, ",") != "ann,adder" {
		t.Fatalf("online %v: the HTTP user must not count as online", online)
	}
	wantData(t, out.Body[4], `{"ann":true,"zed":false}`, "presence query by name")
	wantOK(t, out.Body[5], "emit without data")

	v := sub.Expect(fb.TopicEvent, fb.ActionEmit)
	if string(v.Name()) != "news/sport" || !jsonEqual(v.DataBytes(), []byte(`{"score":[2,1]}`)) {
		t.Fatalf("event %s %s", v.Name(), v.DataBytes())
	}
	if v := sub.Expect(fb.TopicEvent, fb.ActionEmit); len(v.DataBytes()) != 0 {
		t.Fatalf("event without data arrived with %s", v.DataBytes())
	}
}

// TestHTTPAPIRequestErrors covers requests that fail as a whole.
func TestHTTPAPIRequestErrors(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.HTTP.MaxBody = 2048
		o.HTTP.MaxMessages = 3
	})
	cases := []struct {
		name, body string
		status     int
		error      string
	}{
		{"malformed JSON", `{"body":[{"topic":"record"`, 400, "InvalidJSON"},
		{"not an object", `[1,2]`, 400, "InvalidJSON"},
		{"body not an array", `{"body":{"topic":"record"}}`, 400, "InvalidJSON"},
		{"no messages", `{"body":[]}`, 400, "NoMessages"},
		{"missing body", `{"token":"x"}`, 400, "NoMessages"},
		{"too many messages", `{"body":[{},{},{},{}]}`, 400, "TooManyMessages"},
		{"too large", `{"body":[{"topic":"event","action":"emit","eventName":"a","data":"` + strings.Repeat("x", 3000) + `"}]}`, 413, "BodyTooLarge"},
		{"authData not an object", `{"authData":"ann","body":[{}]}`, 400, "InvalidJSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := postAPI(t, srv, c.body)
			if status != c.status || out.Error != c.error || out.Result != "FAILURE" || out.Message == "" {
				t.Fatalf("status %d, %+v; want %d %s", status, out, c.status, c.error)
			}
		})
	}
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /api: %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestHTTPAPIMixedBatch runs good and bad messages together: each gets
// its own result, in order, and the good ones take effect.
func TestHTTPAPIMixedBatch(t *testing.T) {
	srv := enginetest.Start(t, nil)
	out := batch(t, srv, "", `[
		{"topic":"record","action":"write","recordName":"mixed","data":{"a":1}},
		{"topic":"nonsense","action":"read"},
		{"topic":"record","action":"fly","recordName":"mixed"},
		{"topic":"record","action":"write","data":{"a":2}},
		"not a message",
		{"topic":"record","action":"write","recordName":"mixed"},
		{"topic":"record","action":"write","recordName":"mixed","data":[1,2]},
		{"topic":"record","action":"write","recordName":"mixed","path":"a..b","data":1},
		{"topic":"event","action":"subscribe","eventName":"x"},
		{"topic":"record","action":"write","recordName":"mixed","data":"a string is not a document"},
		{"topic":"record","action":"erase","recordName":"mixed"},
		{"topic":"record","action":"read","recordName":"mixed"}]`)
	if out.Result != "PARTIAL_SUCCESS" || len(out.Body) != 12 {
		t.Fatalf("%s, %d results", out.Result, len(out.Body))
	}
	wantVersion(t, out.Body[0], 1, "first write")
	wantErr(t, out.Body[1], "UnknownAction", "unknown topic")
	wantErr(t, out.Body[2], "UnknownAction", "unknown action")
	wantErr(t, out.Body[3], "InvalidName", "write without a name")
	wantErr(t, out.Body[4], "InvalidData", "a string as a message")
	wantErr(t, out.Body[5], "InvalidData", "write without data")
	wantVersion(t, out.Body[6], 2, "array document")
	wantErr(t, out.Body[7], "InvalidPath", "bad path")
	wantErr(t, out.Body[8], "UnknownAction", "subscribe over HTTP")
	wantErr(t, out.Body[9], "InvalidDocument", "a string as a document")
	wantErr(t, out.Body[10], "InvalidPath", "erase without a path")
	wantData(t, out.Body[11], `[1,2]`, "read after the mix")
	wantVersion(t, out.Body[11], 2, "read after the mix")
}

const jwtSecret = "0123456789abcdef0123456789abcdef-http"

func signed(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHTTPAPIAuthAndPermissions logs in with each credential form, refuses
// bad credentials, and applies the permission rules per message.
func TestHTTPAPIAuthAndPermissions(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "permissions.yml")
	if err := os.WriteFile(rules, []byte(`
record:
  "*": { read: true, write: true, create: true, delete: true }
  "config/*": { read: true, write: "user.data.role == 'admin'", delete: false }
event:
  "*": { publish: true, subscribe: true }
  "private/*": { publish: "user.id == 'ann'", subscribe: "user.id == 'ann'" }
rpc: { "*": { provide: true, request: true } }
presence: { "*": { allow: true } }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Auth.Strategies = []auth.StrategyConfig{{Type: "jwt", JWT: auth.JWTConfig{HMACSecret: jwtSecret}}}
		o.Valve.Path = rules
	})
	ann := signed(t, jwt.MapClaims{"sub": "ann", "role": "admin"})
	bob := signed(t, jwt.MapClaims{"sub": "bob"})

	messages := `[
		{"topic":"record","action":"write","recordName":"config/site","path":"title","data":"Eddy"},
		{"topic":"event","action":"emit","eventName":"private/chat","data":"hi"},
		{"topic":"record","action":"read","recordName":"config/site"},
		{"topic":"record","action":"delete","recordName":"config/site"}]`

	// Token in the body.
	out := batch(t, srv, `"token":"`+ann+`"`, messages)
	wantVersion(t, out.Body[0], 1, "ann writes config")
	wantOK(t, out.Body[1], "ann emits privately")
	wantOK(t, out.Body[2], "ann reads")
	wantErr(t, out.Body[3], "PermissionDenied", "nobody deletes config")

	// Bearer header: bob is refused what the rules keep for admins and ann.
	status, out := postAPI(t, srv, `{"body":`+messages+`}`, "Authorization", "Bearer "+bob)
	if status != 200 || out.Result != "PARTIAL_SUCCESS" {
		t.Fatalf("bob: %d %+v", status, out)
	}
	wantErr(t, out.Body[0], "PermissionDenied", "bob writes config")
	wantErr(t, out.Body[1], "PermissionDenied", "bob emits privately")
	wantData(t, out.Body[2], `{"title":"Eddy"}`, "bob reads")
	wantErr(t, out.Body[3], "PermissionDenied", "bob deletes config")
	if !strings.Contains(out.Body[0].Message, "config/site") {
		t.Fatalf("denial does not name the record: %s", out.Body[0].Message)
	}

	// authData as a client would send it.
	out = batch(t, srv, `"authData":{"token":"`+ann+`"}`, `[{"topic":"record","action":"head","recordName":"config/site"}]`)
	wantVersion(t, out.Body[0], 1, "head with authData")

	// Refusals: a bad signature, no credentials, garbage.
	forged := signed(t, jwt.MapClaims{"sub": "ann"})[:20] + "x"
	for name, req := range map[string][]string{
		"forged token":  {`{"token":"` + forged + `","body":[{}]}`},
		"no token":      {`{"body":[{}]}`},
		"bad header":    {`{"body":[{}]}`, "Authorization", "Bearer nonsense"},
		"expired token": {`{"token":"` + signed(t, jwt.MapClaims{"sub": "ann", "exp": time.Now().Add(-time.Hour).Unix()}) + `","body":[{}]}`},
	} {
		status, out := postAPI(t, srv, req[0], req[1:]...)
		want := "InvalidCredentials"
		if name == "expired token" {
			want = "TokenExpired" // a new token would do
		}
		if status != http.StatusUnauthorized || out.Error != want || out.Result != "FAILURE" {
			t.Errorf("%s: %d %+v", name, status, out)
		}
	}
}

// TestHTTPAPITimeout bounds a batch waiting for an RPC that never answers:
// the waiting message and every later one fail with Timeout.
func TestHTTPAPITimeout(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.HTTP.Timeout = 300 * time.Millisecond
	})
	prov := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	prov.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: 3, Name: "slow"})
	prov.Expect(fb.TopicRpc, fb.ActionAck)
	start := time.Now()
	out := batch(t, srv, "", `[
		{"topic":"event","action":"emit","eventName":"e"},
		{"topic":"rpc","action":"make","rpcName":"slow","timeout":60000},
		{"topic":"event","action":"emit","eventName":"e"}]`)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	wantOK(t, out.Body[0], "emit before")
	wantErr(t, out.Body[1], "Timeout", "unanswered rpc")
	wantErr(t, out.Body[2], "Timeout", "message after the timeout")
	// The abandoned request is cleaned up with its virtual connection.
	deadline := time.Now().Add(5 * time.Second)
	for srv.RPC().Pending() != 0 || srv.Connections() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("pending %d, connections %d", srv.RPC().Pending(), srv.Connections())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHTTPAPIConcurrent runs batches from many goroutines against the same
// record: every forced write gets its own version.
func TestHTTPAPIConcurrent(t *testing.T) {
	srv := enginetest.Start(t, nil)
	const workers, each = 8, 5
	var wg sync.WaitGroup
	versions := make(chan int64, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, out := postAPI(t, srv, `{"body":[{"topic":"record","action":"write","recordName":"counter","path":"n","data":1}]}`)
				if len(out.Body) == 1 && out.Body[0].Version != nil {
					versions <- *out.Body[0].Version
				}
			}
		}()
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		seen[v] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct versions, want %d", len(seen), workers*each)
	}
	for v := int64(1); v <= workers*each; v++ {
		if !seen[v] {
			t.Fatalf("version %d missing", v)
		}
	}
}
