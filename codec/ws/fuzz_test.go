package ws

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// fuzzConfig turns a fuzzer byte into a parser configuration.
func fuzzConfig(mode byte) Parser {
	p := Parser{Client: mode&1 != 0, Deflate: mode&2 != 0, MaxMessage: 1 << 16}
	if mode&4 != 0 {
		p.MaxMessage = 64
	}
	return p
}

// parseStream runs a fresh parser over chunks and returns the frames, the
// close code of the error (0 for none) and how many bytes were left.
func parseStream(cfg Parser, chunks ...[]byte) ([]got, uint16, int) {
	p := cfg
	frames, rest, err := feed(&p, chunks...)
	if err != nil {
		var ce *CloseError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "ws: ") {
			panic("error is not a *CloseError: " + err.Error())
		}
		if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrInvalidData) && !errors.Is(err, ErrTooBig) {
			panic("error wraps no sentinel: " + err.Error())
		}
		return frames, ce.Code, 0
	}
	return frames, 0, len(rest)
}

func FuzzParser(f *testing.F) {
	m := &testMask
	// RFC 6455 5.7 examples (client mode: unmasked).
	f.Add([]byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, 3, byte(1))
	f.Add([]byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}, 4, byte(1))
	f.Add([]byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, 1, byte(1))
	f.Add(append([]byte{0x82, 0x7e, 0x01, 0x00}, make([]byte, 256)...), 100, byte(1))
	// Server mode: masked frames, fragments with a ping between, close.
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, 5, byte(0))
	var s []byte
	s = appendFragments(s, OpText, []byte("fragmented"), 4, false, m)
	s = AppendFrame(s, OpPing, []byte("x"), false, m)
	s = AppendClose(s, 4000, "done", m)
	f.Add(s, 9, byte(0))
	// Compressed, whole and fragmented, with and without a small limit.
	z := Compress(nil, []byte(strings.Repeat("compress me ", 20)))
	s = AppendFrame(nil, OpText, z, true, m)
	s = appendFragments(s, OpBinary, z, 5, true, m)
	f.Add(s, 17, byte(2))
	f.Add(s, 17, byte(6))
	f.Add(AppendFrame(nil, OpBinary, Compress(nil, make([]byte, 10000)), true, nil), 3, byte(3))
	// Errors.
	f.Add([]byte{0x83, 0x80, 0, 0, 0, 0}, 1, byte(0))
	f.Add([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed}, 2, byte(0))
	f.Add(AppendHeader(nil, OpBinary, 1<<40, true, false, m), 2, byte(0))

	f.Fuzz(func(t *testing.T, stream []byte, split int, mode byte) {
		cfg := fuzzConfig(mode)
		whole, wholeErr, wholeRest := parseStream(cfg, bytes.Clone(stream))
		if split < 0 {
			split = -split
		}
		if len(stream) > 0 {
			split %= len(stream) + 1
		} else {
			split = 0
		}
		two := bytes.Clone(stream)
		halves, halvesErr, halvesRest := parseStream(cfg, two[:split], two[split:])
		if !equalFrames(whole, halves) || wholeErr != halvesErr || wholeRest != halvesRest {
			t.Fatalf("split at %d: whole %v err %d rest %d; halves %v err %d rest %d",
				split, short(whole), wholeErr, wholeRest, short(halves), halvesErr, halvesRest)
		}
		// Encode what we decoded and decode it again.
		var mask *[4]byte
		if !cfg.Client {
			mask = &[4]byte{1, 2, 3, 4}
		}
		var enc []byte
		for _, fr := range whole {
			payload := []byte(fr.Payload)
			if fr.Compressed {
				payload = Compress(nil, payload)
			}
			enc = AppendFrame(enc, fr.Op, payload, fr.Compressed, mask)
		}
		again, againErr, againRest := parseStream(cfg, enc)
		if !equalFrames(whole, again) || againErr != 0 || againRest != 0 {
			t.Fatalf("round trip: %v -> %v err %d rest %d", short(whole), short(again), againErr, againRest)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(upgradeRequest()), 10)
	f.Add([]byte(upgradeRequest("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate\r\n")), 50)
	f.Add([]byte(upgradeRequest("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=\"15\"\r\n", "Authorization: Bearer abc\r\n")), 0)
	f.Add(AppendRequest(nil, "h:1", "/p?q", NewKey(), true, http.Header{"Cookie": {"a=b"}}), 7)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 3)
	f.Add([]byte("GET / HTTP/1.1\nHost: x\n\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		const max = 4096
		req, n, err := ParseRequest(data, max)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) || !strings.HasPrefix(err.Error(), "ws: ") || req != nil || n != 0 {
				t.Fatalf("bad error: %v (n=%d)", err, n)
			}
			return
		}
		if n == 0 {
			if req != nil || len(data) >= max {
				t.Fatalf("need-more with %d bytes", len(data))
			}
			return
		}
		// Any shorter prefix of the head is "need more".
		if split < 0 {
			split = -split
		}
		k := split % n
		if r, m, err := ParseRequest(data[:k], max); r != nil || m != 0 || err != nil {
			t.Fatalf("prefix %d of %d: n=%d err=%v", k, n, m, err)
		}
		// Re-encode with our client and parse again.
		extra := http.Header{}
		for key, v := range req.Header {
			if !handshakeFields[key] {
				extra[key] = v
			}
		}
		target := req.Path
		if req.RawQuery != "" {
			target += "?" + req.RawQuery
		}
		raw := AppendRequest(nil, req.Host, target, req.Key, req.Deflate, extra)
		again, m, err := ParseRequest(raw, 0)
		if err != nil || m != len(raw) {
			t.Fatalf("re-encoded request rejected: %v\n%q", err, raw)
		}
		a, b := *req, *again
		a.Header, b.Header, a.echoServerWindow, b.echoServerWindow = nil, nil, false, false
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip\n got %+v\nwant %+v", b, a)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(response()), 5)
	f.Add([]byte(response("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=9\r\n")), 40)
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"), 2)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		_, n, err := ParseResponse(data, rfcKey)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) || !strings.HasPrefix(err.Error(), "ws: ") || n != 0 {
				t.Fatalf("bad error: %v", err)
			}
			return
		}
		if n == 0 {
			return
		}
		if split < 0 {
			split = -split
		}
		k := split % n
		if _, m, err := ParseResponse(data[:k], rfcKey); m != 0 || err != nil {
			t.Fatalf("prefix %d of %d: n=%d err=%v", k, n, m, err)
		}
	})
}

func FuzzDecompress(f *testing.F) {
	f.Add(Compress(nil, nil))
	f.Add(Compress(nil, []byte("hello hello hello")))
	f.Add(Compress(nil, make([]byte, 1<<20))) // a bomb over the limit
	f.Add(Compress(nil, pseudoRandom(3000)))
	f.Add([]byte{0xff, 0x00, 0x13})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		out, err := Decompress(nil, data, limit)
		if err != nil {
			if !errors.Is(err, ErrTooBig) && !errors.Is(err, ErrInvalidData) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("%d bytes past the %d limit", len(out), limit)
		}
		again, err := Decompress(nil, Compress(nil, out), limit)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
