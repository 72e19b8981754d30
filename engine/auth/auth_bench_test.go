package auth

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

func BenchmarkNone(b *testing.B) {
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct{ name, data string }{
		{"anonymous", ``},
		{"anonymous-object", `{"client":"web"}`},
		{"username", `{"username":"ann","client":"web"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &Request{Data: []byte(bc.data), RemoteAddr: "127.0.0.1:1"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Authenticate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkJWT(b *testing.B) {
	k := testKeys()
	s, err := newJWTStrategy(JWTConfig{
		HMACSecret:   hmacSecret,
		RSAPublicKey: publicPEM(b, &k.rsa.PublicKey),
		ECPublicKey:  publicPEM(b, &k.ec.PublicKey),
	})
	if err != nil {
		b.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "ann", "exp": time.Now().Add(time.Hour).Unix(), "role": "admin"}
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", jwt.SigningMethodHS256, []byte(hmacSecret)},
		{"RS256", jwt.SigningMethodRS256, k.rsa},
		{"ES256", jwt.SigningMethodES256, k.ec},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &Request{Data: []byte(tokenData(sign(b, bc.method, bc.key, claims)))}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Authenticate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHeader(b *testing.B) {
	s, err := newHeaderStrategy(HeaderConfig{TrustedProxies: []string{"10.0.0.0/8"}})
	if err != nil {
		b.Fatal(err)
	}
	req := &Request{RemoteAddr: "10.1.2.3:4567", Header: http.Header{"X-Forwarded-User": {"ann"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFile measures a file login with HashPassword's argon2id
// parameters and with bcrypt at cost 10: the cost is the hash, by design.
func BenchmarkFile(b *testing.B) {
	argon, err := HashPassword("pw")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "users.yml")
	writeUsers(b, path, fmt.Sprintf("users:\n  ann:\n    password: %q\n  bob:\n    password: %q\n",
		argon, bcryptDefault(b, "pw")), time.Now())
	s, err := New(Config{Strategies: []StrategyConfig{{Type: "file", File: FileConfig{Path: path}}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, user := range []string{"ann", "bob"} {
		name := map[string]string{"ann": "argon2id", "bob": "bcrypt"}[user]
		b.Run(name, func(b *testing.B) {
			req := &Request{Data: []byte(`{"username":"` + user + `","password":"pw"}`)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Authenticate(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWebhookCacheHit(b *testing.B) {
	s, err := newWebhookStrategy(HTTPConfig{URL: "http://127.0.0.1:1/unused", CacheTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"username":"ann","password":"` + strings.Repeat("p", 20) + `"}`)
	s.cache.put(s.cacheKey(data, map[string]string{}), Result{ID: "ann"})
	req := &Request{Data: data}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := s.Authenticate(context.Background(), req); err != nil || res.ID != "ann" {
			b.Fatal(res, err)
		}
	}
}

func bcryptDefault(b *testing.B, password string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	return string(h)
}
