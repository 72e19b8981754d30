package ws

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// The example of RFC 6455 section 1.3.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func upgradeRequest(extra ...string) string {
	return "GET /chat?token=abc HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: " + rfcKey + "\r\n" +
		"Origin: http://example.com\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		strings.Join(extra, "") +
		"\r\n"
}

func TestAcceptKey(t *testing.T) {
	if got := AcceptKey(rfcKey); got != rfcAccept {
		t.Fatalf("AcceptKey = %q, want %q", got, rfcAccept)
	}
}

func TestParseRequestByteByByte(t *testing.T) {
	raw := upgradeRequest("Authorization: Bearer x.y.z\r\n", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	trailer := "\x81\x85" // the first frame, pipelined after the head
	stream := []byte(raw + trailer)
	var buf []byte
	var req *Request
	for i := 0; i < len(stream); i++ {
		buf = append(buf, stream[i])
		r, n, err := ParseRequest(buf, 0)
		if err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
		if i < len(raw)-1 {
			if n != 0 || r != nil {
				t.Fatalf("byte %d: request complete too early (n=%d)", i, n)
			}
			continue
		}
		if n != len(raw) || r == nil {
			t.Fatalf("byte %d: n=%d, want %d", i, n, len(raw))
		}
		req = r
	}
	want := &Request{
		Method: "GET", Path: "/chat", RawQuery: "token=abc", Host: "server.example.com",
		Key: rfcKey, Origin: "http://example.com", Protocols: []string{"chat", "superchat"}, Deflate: true,
	}
	got := *req
	got.Header = nil
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("request\n got %+v\nwant %+v", got, *want)
	}
	if req.Header.Get("Authorization") != "Bearer x.y.z" || req.Header["Sec-Websocket-Version"][0] != "13" {
		t.Fatalf("headers not kept with canonical keys: %v", req.Header)
	}
}

func TestParseRequestErrors(t *testing.T) {
	base := upgradeRequest()
	replace := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("test bug: %q not in request", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	cases := []struct {
		name   string
		raw    string
		status int
	}{
		{"post", replace("GET ", "POST "), 400},
		{"lowercase method", replace("GET ", "get "), 400},
		{"http/1.0", replace("HTTP/1.1", "HTTP/1.0"), 400},
		{"http/2", replace("HTTP/1.1", "HTTP/2.0"), 400},
		{"no version", replace(" HTTP/1.1", ""), 400},
		{"absolute uri", replace("/chat?token=abc", "http://x/chat"), 400},
		{"star", replace("/chat?token=abc", "*"), 400},
		{"no host", replace("Host: server.example.com\r\n", ""), 400},
		{"two hosts", replace("Host: server.example.com\r\n", "Host: a\r\nHost: b\r\n"), 400},
		{"no upgrade", replace("Upgrade: websocket\r\n", ""), 400},
		{"upgrade h2c", replace("Upgrade: websocket", "Upgrade: h2c"), 400},
		{"connection close", replace("keep-alive, Upgrade", "close"), 400},
		{"no key", replace("Sec-WebSocket-Key: "+rfcKey+"\r\n", ""), 400},
		{"short key", replace(rfcKey, "dGhlIHNhbXBsZQ=="), 400},
		{"key not base64", replace(rfcKey, "dGhlIHNhbXBsZSBub25jZ!=="), 400},
		{"two keys", replace("Sec-WebSocket-Key: "+rfcKey+"\r\n", "Sec-WebSocket-Key: "+rfcKey+"\r\nSec-WebSocket-Key: "+rfcKey+"\r\n"), 400},
		{"version 8", replace("Version: 13", "Version: 8"), 426},
		{"no version header", replace("Sec-WebSocket-Version: 13\r\n", ""), 426},
		{"two versions", replace("Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"), 426},
		{"bare LF", replace("Host: server.example.com\r\n", "Host: server.example.com\n"), 400},
		{"folded header", replace("Origin: http://example.com\r\n", "Origin: http://example.com\r\n  folded\r\n"), 400},
		{"space before colon", replace("Origin: ", "Origin : "), 400},
		{"no colon", replace("Origin: http://example.com", "Origin http://example.com"), 400},
		{"control char", replace("http://example.com", "http://ex\x01ample.com"), 400},
		{"body", replace("Origin:", "Content-Length: 5\r\nOrigin:"), 400},
		{"chunked", replace("Origin:", "Transfer-Encoding: chunked\r\nOrigin:"), 400},
		{"bad subprotocol", replace("chat, superchat", "chat, super chat"), 400},
		{"empty line first", "\r\n" + base, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, n, err := ParseRequest([]byte(c.raw), 0)
			if err == nil {
				t.Fatalf("accepted (n=%d, req=%+v)", n, req)
			}
			if !errors.Is(err, ErrBadRequest) || !strings.HasPrefix(err.Error(), "ws: ") {
				t.Fatalf("error %q does not wrap ErrBadRequest", err)
			}
			if got := HTTPStatus(err); got != c.status {
				t.Fatalf("HTTPStatus = %d, want %d (%v)", got, c.status, err)
			}
			if req != nil || n != 0 {
				t.Fatalf("error with req=%v n=%d", req, n)
			}
		})
	}
}

func TestParseRequestTooLarge(t *testing.T) {
	raw := []byte(upgradeRequest("X-Pad: " + strings.Repeat("a", 500) + "\r\n"))
	// Exactly fits.
	if _, n, err := ParseRequest(raw, len(raw)); err != nil || n != len(raw) {
		t.Fatalf("fitting head: n=%d err=%v", n, err)
	}
	// One byte over: refused as soon as max bytes are buffered, not later.
	for _, have := range []int{len(raw) - 2, len(raw) - 1, len(raw)} {
		_, n, err := ParseRequest(raw[:have], len(raw)-1)
		switch {
		case have < len(raw)-1:
			if err != nil || n != 0 {
				t.Fatalf("have %d: want need-more, got n=%d err=%v", have, n, err)
			}
		default:
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrBadRequest) || HTTPStatus(err) != 431 {
				t.Fatalf("have %d: want ErrTooLarge, got %v", have, err)
			}
		}
	}
	// Unterminated garbage never grows past max.
	if _, _, err := ParseRequest(bytes.Repeat([]byte("x"), 100), 64); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
}

func TestNegotiateDeflate(t *testing.T) {
	cases := []struct {
		offer  string
		accept bool
		window bool
	}{
		{"permessage-deflate", true, false},
		{"permessage-deflate; client_max_window_bits", true, false},
		{"permessage-deflate; client_max_window_bits=10", true, false},
		{`permessage-deflate; client_max_window_bits="12"`, true, false},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, false},
		{"permessage-deflate; server_max_window_bits=15", true, true},
		{"permessage-deflate;server_max_window_bits=15;client_max_window_bits=9", true, true},
		{"PerMessage-Deflate; Client_Max_Window_Bits", true, false},
		{"permessage-deflate; server_max_window_bits=10", false, false},
		{"permessage-deflate; server_max_window_bits", false, false},
		{"permessage-deflate; server_max_window_bits=015", false, false},
		{"permessage-deflate; client_max_window_bits=16", false, false},
		{"permessage-deflate; client_max_window_bits=7", false, false},
		{"permessage-deflate; client_max_window_bits=abc", false, false},
		{"permessage-deflate; server_no_context_takeover=1", false, false},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", false, false},
		{"permessage-deflate; unknown_param", false, false},
		{"x-webkit-deflate-frame", false, false},
		{"", false, false},
		{"permessage-deflate; client_max_window_bits=\"12", false, false},
		{"permessage-deflate;; client_max_window_bits", false, false},
		// RFC 7692 7.1.3: the first offer is declined, its fallback accepted.
		{"permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits", true, false},
		{"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=15", true, true},
	}
	for _, c := range cases {
		raw := upgradeRequest("Sec-WebSocket-Extensions: " + c.offer + "\r\n")
		req, _, err := ParseRequest([]byte(raw), 0)
		if err != nil {
			t.Fatalf("%q: %v", c.offer, err)
		}
		if req.Deflate != c.accept || req.echoServerWindow != c.window {
			t.Errorf("%q: Deflate=%v echo=%v, want %v %v", c.offer, req.Deflate, req.echoServerWindow, c.accept, c.window)
		}
		resp := string(AppendResponse(nil, req, true))
		hasExt := strings.Contains(resp, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover")
		if hasExt != c.accept || strings.Contains(resp, "server_max_window_bits=15") != c.window {
			t.Errorf("%q: response %q", c.offer, resp)
		}
	}
	// Offers split over several header lines count as one list.
	raw := upgradeRequest("Sec-WebSocket-Extensions: foo\r\n", "Sec-WebSocket-Extensions: permessage-deflate\r\n")
	if req, _, err := ParseRequest([]byte(raw), 0); err != nil || !req.Deflate {
		t.Fatalf("multi-line offer: %v %v", req, err)
	}
}

func TestAppendResponse(t *testing.T) {
	req, _, err := ParseRequest([]byte(upgradeRequest("Sec-WebSocket-Extensions: permessage-deflate\r\n")), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, deflate := range []bool{false, true} {
		raw := AppendResponseProtocol([]byte("prefix"), req, deflate, "chat")
		if !bytes.HasPrefix(raw, []byte("prefix")) {
			t.Fatal("dst prefix lost")
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw[6:])), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != rfcAccept ||
			resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" ||
			resp.Header.Get("Sec-Websocket-Protocol") != "chat" {
			t.Fatalf("response %q", raw)
		}
		if got := resp.Header.Get("Sec-Websocket-Extensions") != ""; got != deflate {
			t.Fatalf("deflate=%v: response %q", deflate, raw)
		}
		// Our own client accepts it.
		gotDeflate, n, err := ParseResponse(raw[6:], rfcKey)
		if err != nil || gotDeflate != deflate || n != len(raw)-6 {
			t.Fatalf("ParseResponse: deflate=%v n=%d err=%v", gotDeflate, n, err)
		}
	}
	// deflate is ignored when the client did not offer it.
	req.Deflate = false
	if bytes.Contains(AppendResponse(nil, req, true), []byte("Extensions")) {
		t.Fatal("extension accepted without an offer")
	}
}

func TestAppendHTTPError(t *testing.T) {
	for _, status := range []int{400, 426, 431} {
		raw := AppendHTTPError(nil, status, "ws: nope")
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || string(body) != "ws: nope\n" || !resp.Close {
			t.Fatalf("status %d: %q", status, raw)
		}
		if got := resp.Header.Get("Sec-Websocket-Version"); (got == "13") != (status == 426) {
			t.Fatalf("status %d: Sec-WebSocket-Version %q", status, got)
		}
	}
}

func TestAppendRequestRoundTrip(t *testing.T) {
	key := NewKey()
	if !validKey(key) || NewKey() == key {
		t.Fatalf("NewKey %q", key)
	}
	extra := http.Header{
		"Authorization":          {"Bearer t"},
		"Origin":                 {"http://localhost"},
		"Sec-WebSocket-Protocol": {"eddy"},
		"X-Evil":                 {"a\r\nInjected: yes"},
		"Upgrade":                {"h2c"}, // owned by the handshake: skipped
		"Bad Key":                {"x"},
	}
	for _, deflate := range []bool{false, true} {
		raw := AppendRequest(nil, "127.0.0.1:9", "/ws?x=1", key, deflate, extra)
		req, n, err := ParseRequest(raw, 0)
		if err != nil || n != len(raw) {
			t.Fatalf("ParseRequest(%q): n=%d %v", raw, n, err)
		}
		if req.Path != "/ws" || req.RawQuery != "x=1" || req.Host != "127.0.0.1:9" || req.Key != key ||
			req.Deflate != deflate || req.Origin != "http://localhost" || !reflect.DeepEqual(req.Protocols, []string{"eddy"}) {
			t.Fatalf("request %+v", req)
		}
		if req.Header.Get("X-Evil") != "a  Injected: yes" || req.Header.Get("Injected") != "" ||
			req.Header.Get("Upgrade") != "websocket" || req.Header.Get("Bad Key") != "" {
			t.Fatalf("extra headers not sanitised: %v", req.Header)
		}
		// net/http reads it as well.
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil || hr.URL.Path != "/ws" || hr.Host != "127.0.0.1:9" {
			t.Fatalf("net/http: %v %v", hr, err)
		}
	}
}

func response(extra ...string) string {
	return "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + rfcAccept + "\r\n" +
		strings.Join(extra, "") + "\r\n"
}

func TestParseResponse(t *testing.T) {
	ext := func(v string) string { return "Sec-WebSocket-Extensions: " + v + "\r\n" }
	cases := []struct {
		name    string
		raw     string
		offered bool
		deflate bool
		ok      bool
	}{
		{"plain", response(), true, false, true},
		{"plain not offered", response(), false, false, true},
		{"deflate", response(ext("permessage-deflate; server_no_context_takeover; client_no_context_takeover")), true, true, true},
		{"deflate minimal", response(ext("permessage-deflate; server_no_context_takeover")), true, true, true},
		{"server window", response(ext("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")), true, true, true},
		{"not offered", response(ext("permessage-deflate; server_no_context_takeover")), false, false, false},
		{"context takeover", response(ext("permessage-deflate; client_no_context_takeover")), true, false, false},
		{"client window not offered", response(ext("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")), true, false, false},
		{"bad server window", response(ext("permessage-deflate; server_no_context_takeover; server_max_window_bits=16")), true, false, false},
		{"repeated param", response(ext("permessage-deflate; server_no_context_takeover; server_no_context_takeover")), true, false, false},
		{"unknown param", response(ext("permessage-deflate; server_no_context_takeover; foo")), true, false, false},
		{"unknown extension", response(ext("x-webkit-deflate-frame")), true, false, false},
		{"two extensions", response(ext("permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover")), true, false, false},
		{"malformed extension", response(ext("permessage-deflate; =")), true, false, false},
		{"wrong accept", strings.Replace(response(), rfcAccept, AcceptKey(NewKey()), 1), true, false, false},
		{"no upgrade", strings.Replace(response(), "Upgrade: websocket\r\n", "", 1), true, false, false},
		{"no connection", strings.Replace(response(), "Connection: Upgrade\r\n", "", 1), true, false, false},
		{"http/1.0", strings.Replace(response(), "HTTP/1.1", "HTTP/1.0", 1), true, false, false},
		{"status 200", strings.Replace(response(), "101 Switching Protocols", "200 OK", 1), true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			deflate, n, err := ParseResponseOffer([]byte(c.raw), rfcKey, c.offered)
			if !c.ok {
				if err == nil || !errors.Is(err, ErrBadResponse) {
					t.Fatalf("want ErrBadResponse, got deflate=%v n=%d err=%v", deflate, n, err)
				}
				return
			}
			if err != nil || n != len(c.raw) || deflate != c.deflate {
				t.Fatalf("deflate=%v n=%d err=%v", deflate, n, err)
			}
		})
	}
	raw := strings.Replace(response(), "101 Switching Protocols", "401 Unauthorized", 1)
	_, _, err := ParseResponse([]byte(raw), rfcKey)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 401 || se.Reason != "Unauthorized" {
		t.Fatalf("want StatusError 401, got %v", err)
	}
	// Byte by byte: nothing until the last byte of the head.
	full := response() + "\x81\x00"
	for i := 1; i < len(full); i++ {
		_, n, err := ParseResponse([]byte(full[:i]), rfcKey)
		want := 0
		if i >= len(full)-2 {
			want = len(full) - 2
		}
		if err != nil || n != want {
			t.Fatalf("%d bytes: n=%d err=%v", i, n, err)
		}
	}
}
