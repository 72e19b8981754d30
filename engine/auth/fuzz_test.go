package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzAuthData feeds arbitrary auth data to the strategies that parse it.
// Properties: nothing panics; every error wraps exactly one sentinel; the
// none strategy's user id agrees with encoding/json's reading of the data.
func FuzzAuthData(f *testing.F) {
	tok := sign(f, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": "ann", "srv": map[string]any{"a": 1}})
	for _, seed := range []string{
		``, `null`, `{}`, `{"username":"ann"}`, `{"username":"ann","password":"pw"}`,
		`{"username":"\u00e9\n"}`, `{"username":1}`, `[]`, `"x"`, `{"token":"a.b.c"}`,
		tokenData(tok), `{"username":"a","username":"b"}`, `{"token":` + tokenData(tok) + `}`,
	} {
		f.Add([]byte(seed))
	}
	jwtS, err := newJWTStrategy(JWTConfig{HMACSecret: hmacSecret, ServerDataClaim: "srv", ClientDataClaim: "cli"})
	if err != nil {
		f.Fatal(err)
	}
	hdr, err := newHeaderStrategy(HeaderConfig{TrustedProxies: []string{"127.0.0.1"}})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &Request{Data: data, RemoteAddr: string(data), Header: http.Header{"X-Forwarded-User": {string(data)}}}
		for _, s := range []Strategy{noneStrategy{}, jwtS, hdr} {
			res, err := s.Authenticate(ctx, req)
			if err != nil {
				n := 0
				for _, e := range sentinels {
					if errors.Is(err, e) {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%s: error %q wraps %d sentinels", s.Name(), err, n)
				}
				continue
			}
			for _, raw := range []json.RawMessage{res.ClientData, res.ServerData} {
				if raw != nil && !json.Valid(raw) {
					t.Fatalf("%s: result data %q is not JSON", s.Name(), raw)
				}
			}
			if s.Name() == "none" {
				checkNoneID(t, data, res.ID)
			}
		}
		// Webhook answers are untrusted too.
		if res, err := parseWebhookAnswer(data); err == nil {
			for _, raw := range []json.RawMessage{res.ClientData, res.ServerData} {
				if raw != nil && !json.Valid(raw) {
					t.Fatalf("webhook answer data %q is not JSON", raw)
				}
			}
		} else if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("webhook answer error %q is not ErrUnavailable", err)
		}
		// And password hashes, which come from a file an operator edits.
		if h, err := parsePasswordHash(string(data)); err == nil {
			if a, ok := h.(*argon2Hash); ok && (a.memory > maxArgonMemory || a.time > maxArgonTime) {
				t.Fatalf("hash parameters out of bounds accepted: %+v", a)
			}
		}
	})
}

// checkNoneID compares the id none took from data with encoding/json's
// reading, where the two parsers are meant to agree: one username key, plain
// characters, valid UTF-8.
func checkNoneID(t *testing.T, data []byte, id string) {
	if bytes.Count(data, []byte(`"username"`)) != 1 || bytes.IndexByte(data, '\\') >= 0 || !utf8.Valid(data) || !json.Valid(data) {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return
	}
	var want string
	if raw, ok := m["username"]; ok {
		if json.Unmarshal(raw, &want) != nil {
			return
		}
	}
	if id != want {
		t.Fatalf("none took id %q from %q, encoding/json reads %q", id, data, want)
	}
}
