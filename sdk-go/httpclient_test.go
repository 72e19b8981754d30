package eddy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// TestHTTPClientAgainstServer drives the real server's POST /api.
func TestHTTPClientAgainstServer(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eddy.NewHTTPClient("http://"+srv.HTTPAddr(), eddy.WithHTTPAuth(map[string]string{"username": "backend"}))
	if err != nil {
		t.Fatal(err)
	}

	sub := enginetest.DialTCP(t, srv.TCPAddr())
	sub.Handshake()
	sub.Login(`{"username":"ann"}`)
	sub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: "news"})
	sub.Expect(fb.TopicEvent, fb.ActionAck)

	v, err := c.SetRecord(ctx, "car", "", json.RawMessage(`{"speed":1}`))
	if err != nil || v != 1 {
		t.Fatalf("SetRecord: %d %v", v, err)
	}
	if v, err = c.SetRecord(ctx, "car", "speed", json.RawMessage(`2`)); err != nil || v != 2 {
		t.Fatalf("SetRecord path: %d %v", v, err)
	}
	doc, v, err := c.GetRecord(ctx, "car")
	if err != nil || v != 2 || string(doc) != `{"speed":2}` {
		t.Fatalf("GetRecord: %s %d %v", doc, v, err)
	}
	if err := c.Emit(ctx, "news", json.RawMessage(`"hello"`)); err != nil {
		t.Fatal(err)
	}
	if m := sub.Expect(fb.TopicEvent, fb.ActionEmit); string(m.DataBytes()) != `"hello"` {
		t.Fatalf("emitted %s", m.DataBytes())
	}
	users, err := c.Online(ctx)
	if err != nil || len(users) != 1 || users[0] != "ann" {
		t.Fatalf("Online: %v %v", users, err)
	}
	if _, err := c.MakeRPC(ctx, "nobody", nil); !errors.Is(err, &eddy.Error{Code: protocol.CodeNoRpcProvider}) {
		t.Fatalf("MakeRPC without provider: %v", err)
	}

	res, err := c.Do(ctx,
		eddy.HTTPSetRecordVersion("car", "speed", json.RawMessage(`3`), 3),
		eddy.HTTPSetRecordVersion("car", "speed", json.RawMessage(`4`), 3),
		eddy.HTTPEraseRecordPath("car", "speed"),
		eddy.HTTPHasRecord("car"),
		eddy.HTTPHeadRecord("car"),
		eddy.HTTPQueryPresence("ann", "zed"),
		eddy.HTTPDeleteRecord("car"),
		eddy.HTTPReadRecord("car"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Version != 3 {
		t.Fatalf("versioned write: %+v", res[0])
	}
	var re *eddy.Error
	if !errors.As(res[1].Err, &re) || re.Code != protocol.CodeVersionExists || res[1].Version != 3 || string(res[1].Data) != `{"speed":3}` {
		t.Fatalf("stale versioned write: %+v", res[1])
	}
	if res[2].Err != nil || res[2].Version != 4 {
		t.Fatalf("erase: %+v", res[2])
	}
	if string(res[3].Data) != "true" || res[4].Version != 4 || !res[4].HasVersion {
		t.Fatalf("has %s head %+v", res[3].Data, res[4])
	}
	if string(res[5].Data) != `{"ann":true,"zed":false}` {
		t.Fatalf("presence %s", res[5].Data)
	}
	if res[6].Err != nil || !errors.Is(res[7].Err, &eddy.Error{Code: protocol.CodeRecordNotFound}) {
		t.Fatalf("delete %v, read after %v", res[6].Err, res[7].Err)
	}

	// A request refused as a whole.
	if _, err := c.Do(ctx); err == nil {
		t.Fatal("an empty batch ran")
	} else {
		var he *eddy.HTTPError
		if !errors.As(err, &he) || he.Status != 400 || he.Name != "NoMessages" {
			t.Fatalf("empty batch: %v", err)
		}
	}
}

// TestHTTPClientErrors checks how answers map to errors, against a fake.
func TestHTTPClientErrors(t *testing.T) {
	var answer string
	var status int
	var gotAuth string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
	}))
	defer fake.Close()
	ctx := context.Background()
	c, err := eddy.NewHTTPClient(fake.URL+"/", eddy.WithHTTPToken("tok"))
	if err != nil {
		t.Fatal(err)
	}

	status, answer = 401, `{"result":"FAILURE","error":"InvalidCredentials","code":21,"message":"invalid authentication data"}`
	if err := c.Emit(ctx, "e", nil); !errors.Is(err, eddy.ErrAuthFailed) {
		t.Fatalf("401: %v", err)
	}
	if gotAuth != "Bearer tok" {
		t.Fatalf("Authorization %q", gotAuth)
	}
	status, answer = 413, `{"result":"FAILURE","error":"BodyTooLarge","message":"too big"}`
	var he *eddy.HTTPError
	if err := c.Emit(ctx, "e", nil); !errors.As(err, &he) || he.Status != 413 || he.Name != "BodyTooLarge" || errors.Is(err, eddy.ErrAuthFailed) {
		t.Fatalf("413: %v", err)
	}
	status, answer = 200, `{"result":"FAILURE","body":[{"success":false,"error":"PermissionDenied","code":30,"message":"no"}]}`
	if err := c.Emit(ctx, "e", nil); !errors.Is(err, eddy.ErrPermissionDenied) {
		t.Fatalf("denied: %v", err)
	}
	status, answer = 200, `{"result":"FAILURE","body":[{"success":false,"error":"Timeout","message":"no answer within 10s"}]}`
	if err := c.Emit(ctx, "e", nil); !errors.As(err, &he) || he.Name != "Timeout" || he.Status != 0 {
		t.Fatalf("timeout: %v", err)
	}
	status, answer = 200, `{"result":"SUCCESS","body":[]}`
	if err := c.Emit(ctx, "e", nil); !errors.Is(err, eddy.ErrProtocol) {
		t.Fatalf("missing result: %v", err)
	}
	status, answer = 502, `<html>bad gateway</html>`
	if err := c.Emit(ctx, "e", nil); !errors.Is(err, eddy.ErrProtocol) {
		t.Fatalf("non-JSON answer: %v", err)
	}
	if _, err := eddy.NewHTTPClient("ftp://x"); !errors.Is(err, eddy.ErrBadAddress) {
		t.Fatalf("bad URL: %v", err)
	}
	if _, err := eddy.NewHTTPClient("http://x", eddy.WithHTTPAuth("not an object")); err == nil {
		t.Fatal("auth data that is not an object was accepted")
	}
}

// A backend writes a record and emits an event in one request.
func ExampleHTTPClient() {
	c, err := eddy.NewHTTPClient("http://127.0.0.1:8080", eddy.WithHTTPToken("<jwt>"))
	if err != nil {
		return
	}
	res, err := c.Do(context.Background(),
		eddy.HTTPSetRecord("driver/14", "speed", json.RawMessage(`22`)),
		eddy.HTTPEmit("news/sport", json.RawMessage(`{"score":[2,1]}`)),
	)
	if err != nil {
		return // the request as a whole failed
	}
	for _, r := range res {
		if r.Err != nil {
			return // this message failed
		}
	}
}
