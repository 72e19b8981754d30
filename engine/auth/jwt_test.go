package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var hmacSecret = strings.Repeat("s3cr3t-", 6)

// testKeys are generated once per test binary; RSA generation is slow.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsa2 *rsa.PrivateKey
	ec, ec2   *ecdsa.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func publicPEM(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenData(tok string) string {
	b, _ := json.Marshal(map[string]string{"token": tok})
	return string(b)
}

func newJWT(t testing.TB, cfg JWTConfig) *jwtStrategy {
	t.Helper()
	s, err := newJWTStrategy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTAlgorithms(t *testing.T) {
	k := testKeys()
	// The RSA key from a file, the EC key inline.
	rsaFile := filepath.Join(t.TempDir(), "rsa.pem")
	if err := os.WriteFile(rsaFile, []byte(publicPEM(t, &k.rsa.PublicKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	all := newJWT(t, JWTConfig{HMACSecret: hmacSecret, RSAPublicKey: rsaFile, ECPublicKey: publicPEM(t, &k.ec.PublicKey)})
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	claims := jwt.MapClaims{"sub": "ann", "exp": exp.Unix(), "role": "admin"}

	for _, tc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", jwt.SigningMethodHS256, []byte(hmacSecret)},
		{"RS256", jwt.SigningMethodRS256, k.rsa},
		{"ES256", jwt.SigningMethodES256, k.ec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, tc.method, tc.key, claims)
			res, err := login(t, all, tokenData(tok))
			if err != nil {
				t.Fatal(err)
			}
			if res.ID != "ann" || !res.ExpiresAt.Equal(exp) || res.ClientData != nil {
				t.Fatalf("got %+v", res)
			}
			var sd map[string]any
			if err := json.Unmarshal(res.ServerData, &sd); err != nil || sd["role"] != "admin" || sd["sub"] != "ann" {
				t.Fatalf("serverData %s (%v)", res.ServerData, err)
			}
		})
	}
}

func TestJWTRefusals(t *testing.T) {
	k := testKeys()
	hs := newJWT(t, JWTConfig{HMACSecret: hmacSecret})
	rs := newJWT(t, JWTConfig{RSAPublicKey: publicPEM(t, &k.rsa.PublicKey)})
	es := newJWT(t, JWTConfig{ECPublicKey: publicPEM(t, &k.ec.PublicKey)})
	good := jwt.MapClaims{"sub": "ann", "exp": time.Now().Add(time.Hour).Unix()}
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)

	for _, tc := range []struct {
		name string
		s    *jwtStrategy
		data string
		want error
	}{
		{"no token", hs, `{"username":"ann","password":"x"}`, ErrUnknownUser},
		{"no data", hs, ``, ErrUnknownUser},
		{"token not a string", hs, `{"token":42}`, ErrInvalidCredentials},
		{"data not json", hs, `{token`, ErrInvalidCredentials},
		{"garbage token", hs, tokenData("not.a.jwt"), ErrInvalidCredentials},
		{"empty token", hs, tokenData(""), ErrInvalidCredentials},
		{"wrong hmac secret", hs, tokenData(sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), good)), ErrInvalidCredentials},
		{"wrong rsa key", rs, tokenData(sign(t, jwt.SigningMethodRS256, k.rsa2, good)), ErrInvalidCredentials},
		{"wrong ec key", es, tokenData(sign(t, jwt.SigningMethodES256, k.ec2, good)), ErrInvalidCredentials},
		{"alg none on hs", hs, tokenData(noneTok), ErrInvalidCredentials},
		{"alg none on rs", rs, tokenData(noneTok), ErrInvalidCredentials},
		{"HS384 not configured", hs, tokenData(sign(t, jwt.SigningMethodHS384, []byte(hmacSecret), good)), ErrInvalidCredentials},
		{"HS256 on rsa-only", rs, tokenData(sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), good)), ErrInvalidCredentials},
		{"RS256 on ec-only", es, tokenData(sign(t, jwt.SigningMethodRS256, k.rsa, good)), ErrInvalidCredentials},
		{"ES256 on hmac-only", hs, tokenData(sign(t, jwt.SigningMethodES256, k.ec, good)), ErrInvalidCredentials},
		{"missing sub", hs, tokenData(sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"name": "ann"})), ErrInvalidCredentials},
		{"empty sub", hs, tokenData(sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": ""})), ErrInvalidCredentials},
		{"sub an object", hs, tokenData(sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": map[string]any{}})), ErrInvalidCredentials},
		{"not yet valid", hs, tokenData(sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": "a", "nbf": time.Now().Add(time.Hour).Unix()})), ErrInvalidCredentials},
		{"exp a string", hs, tokenData(sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": "a", "exp": "tomorrow"})), ErrInvalidCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := login(t, tc.s, tc.data)
			wantErr(t, err, tc.want)
			t.Log(err)
		})
	}

	// Hand-made: a token whose header claims HS256 with the RSA public key
	// as the HMAC secret (the classic key-confusion attack) fails on rs.
	pubPEM := publicPEM(t, &k.rsa.PublicKey)
	confused := sign(t, jwt.SigningMethodHS256, []byte(pubPEM), good)
	_, err := login(t, rs, tokenData(confused))
	wantErr(t, err, ErrInvalidCredentials)
}

func TestJWTExpiry(t *testing.T) {
	hs := newJWT(t, JWTConfig{HMACSecret: hmacSecret})
	expired := sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": "ann", "exp": time.Now().Add(-time.Minute).Unix()})
	_, err := login(t, hs, tokenData(expired))
	wantErr(t, err, ErrInvalidCredentials)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token error %q does not wrap ErrExpired", err)
	}

	lenient := newJWT(t, JWTConfig{HMACSecret: hmacSecret, Leeway: 5 * time.Minute})
	if res, err := login(t, lenient, tokenData(expired)); err != nil || res.ID != "ann" {
		t.Fatalf("leeway ignored: %+v %v", res, err)
	}

	noExp := sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": "ann"})
	if res, err := login(t, hs, tokenData(noExp)); err != nil || !res.ExpiresAt.IsZero() {
		t.Fatalf("token without exp: %+v %v", res, err)
	}
	strict := newJWT(t, JWTConfig{HMACSecret: hmacSecret, RequireExpiry: true})
	_, err = login(t, strict, tokenData(noExp))
	wantErr(t, err, ErrInvalidCredentials)
}

func TestJWTIssuerAudience(t *testing.T) {
	s := newJWT(t, JWTConfig{HMACSecret: hmacSecret, Issuer: "https://id.example", Audience: "eddy"})
	key := []byte(hmacSecret)
	ok := sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "a", "iss": "https://id.example", "aud": []string{"other", "eddy"}})
	if _, err := login(t, s, tokenData(ok)); err != nil {
		t.Fatal(err)
	}
	for name, claims := range map[string]jwt.MapClaims{
		"wrong issuer":   {"sub": "a", "iss": "https://evil.example", "aud": "eddy"},
		"no issuer":      {"sub": "a", "aud": "eddy"},
		"wrong audience": {"sub": "a", "iss": "https://id.example", "aud": "other"},
		"no audience":    {"sub": "a", "iss": "https://id.example"},
	} {
		_, err := login(t, s, tokenData(sign(t, jwt.SigningMethodHS256, key, claims)))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		wantErr(t, err, ErrInvalidCredentials)
	}
}

func TestJWTClaimsMapping(t *testing.T) {
	s := newJWT(t, JWTConfig{HMACSecret: hmacSecret, IDClaim: "uid", ServerDataClaim: "srv", ClientDataClaim: "cli"})
	key := []byte(hmacSecret)
	tok := sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{
		"sub": "ignored", "uid": 12345678901234567, "srv": map[string]any{"role": "admin", "n": 1.5}, "cli": []any{"x"},
	})
	res, err := login(t, s, tokenData(tok))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "12345678901234567" {
		t.Fatalf("numeric id %q lost precision", res.ID)
	}
	if string(res.ServerData) != `{"n":1.5,"role":"admin"}` || string(res.ClientData) != `["x"]` {
		t.Fatalf("server %s client %s", res.ServerData, res.ClientData)
	}
	// Absent data claims give no data; a missing id claim refuses.
	tok = sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"uid": "u"})
	if res, err := login(t, s, tokenData(tok)); err != nil || res.ID != "u" || res.ServerData != nil || res.ClientData != nil {
		t.Fatalf("got %+v %v", res, err)
	}
	tok = sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "ann"})
	_, err = login(t, s, tokenData(tok))
	wantErr(t, err, ErrInvalidCredentials)
}

func TestJWTConfigErrors(t *testing.T) {
	k := testKeys()
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny\n"), 0o600)
	long := filepath.Join(dir, "long")
	os.WriteFile(long, []byte(hmacSecret+"\n"), 0o600)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, tc := range map[string]struct {
		cfg  JWTConfig
		want string
	}{
		"short secret file":  {JWTConfig{HMACSecretFile: short}, "at least 32"},
		"missing file":       {JWTConfig{HMACSecretFile: filepath.Join(dir, "nope")}, "no such file"},
		"rsa key not pem":    {JWTConfig{RSAPublicKey: "-----BEGIN nonsense"}, "rsaPublicKey"},
		"rsa key too small":  {JWTConfig{RSAPublicKey: publicPEM(t, &small.PublicKey)}, "1024 bits"},
		"ec key for rsa":     {JWTConfig{RSAPublicKey: publicPEM(t, &k.ec.PublicKey)}, "rsaPublicKey"},
		"rsa key for ec":     {JWTConfig{ECPublicKey: publicPEM(t, &k.rsa.PublicKey)}, "ecPublicKey"},
		"ec key wrong curve": {JWTConfig{ECPublicKey: publicPEM(t, &p384.PublicKey)}, "P-256"},
	} {
		_, err := newJWTStrategy(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	s := newJWT(t, JWTConfig{HMACSecretFile: long})
	tok := sign(t, jwt.SigningMethodHS256, []byte(hmacSecret), jwt.MapClaims{"sub": "a"})
	if _, err := login(t, s, tokenData(tok)); err != nil {
		t.Fatalf("secret from file (newline trimmed): %v", err)
	}
}

// The key function refuses algorithms without a configured key on its own,
// behind the parser's list of valid methods.
func TestJWTKeyFuncRefusesUnconfigured(t *testing.T) {
	hs := newJWT(t, JWTConfig{HMACSecret: hmacSecret})
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodES256, jwt.SigningMethodHS384, jwt.SigningMethodNone} {
		if k, err := hs.key(&jwt.Token{Method: m}); err == nil {
			t.Errorf("%s: got key %v", m.Alg(), k)
		}
	}
	if k, err := hs.key(&jwt.Token{Method: jwt.SigningMethodHS256}); err != nil || k == nil {
		t.Fatalf("HS256: %v %v", k, err)
	}
}
