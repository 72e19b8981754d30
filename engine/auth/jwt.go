package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

const (
	minHMACSecret = 32   // bytes; RFC 7518 §3.2: at least the hash size
	minRSABits    = 2048 // bits
)

// jwtStrategy verifies a JSON Web Token sent as {"token": "..."}.
type jwtStrategy struct {
	parser  *jwt.Parser
	keyFunc jwt.Keyfunc

	hmacKey []byte
	rsaKey  *rsa.PublicKey
	ecKey   *ecdsa.PublicKey

	idClaim, serverClaim, clientClaim string
}

func newJWTStrategy(cfg JWTConfig) (*jwtStrategy, error) {
	s := &jwtStrategy{
		idClaim:     cfg.IDClaim,
		serverClaim: cfg.ServerDataClaim,
		clientClaim: cfg.ClientDataClaim,
	}
	if s.idClaim == "" {
		s.idClaim = DefaultIDClaim
	}
	var methods []string
	switch {
	case cfg.HMACSecret != "":
		s.hmacKey = []byte(cfg.HMACSecret)
	case cfg.HMACSecretFile != "":
		b, err := os.ReadFile(cfg.HMACSecretFile)
		if err != nil {
			return nil, fmt.Errorf("hmacSecretFile: %w", err)
		}
		s.hmacKey = bytes.TrimRight(b, "\r\n")
		if len(s.hmacKey) < minHMACSecret {
			return nil, fmt.Errorf("hmacSecretFile holds %d bytes; HS256 needs at least %d", len(s.hmacKey), minHMACSecret)
		}
	}
	if s.hmacKey != nil {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.RSAPublicKey != "" {
		pem, err := readPEM(cfg.RSAPublicKey)
		if err != nil {
			return nil, fmt.Errorf("rsaPublicKey: %w", err)
		}
		if s.rsaKey, err = jwt.ParseRSAPublicKeyFromPEM(pem); err != nil {
			return nil, fmt.Errorf("rsaPublicKey: %w", err)
		}
		if n := s.rsaKey.N.BitLen(); n < minRSABits {
			return nil, fmt.Errorf("rsaPublicKey has %d bits; at least %d are needed", n, minRSABits)
		}
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	if cfg.ECPublicKey != "" {
		pem, err := readPEM(cfg.ECPublicKey)
		if err != nil {
			return nil, fmt.Errorf("ecPublicKey: %w", err)
		}
		if s.ecKey, err = jwt.ParseECPublicKeyFromPEM(pem); err != nil {
			return nil, fmt.Errorf("ecPublicKey: %w", err)
		}
		if s.ecKey.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ecPublicKey is on %s; ES256 needs P-256", s.ecKey.Curve.Params().Name)
		}
		methods = append(methods, jwt.SigningMethodES256.Alg())
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithJSONNumber(), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.RequireExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	s.parser = jwt.NewParser(opts...)
	s.keyFunc = s.key
	return s, nil
}

// readPEM returns v when it is PEM text, else the contents of the file v.
func readPEM(v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	return os.ReadFile(v)
}

// key picks the key for the token's algorithm. The parser already refuses
// algorithms that are not configured; key refuses them again rather than
// hand a missing (nil) key to the verifier.
func (s *jwtStrategy) key(t *jwt.Token) (any, error) {
	switch {
	case t.Method == jwt.SigningMethodHS256 && s.hmacKey != nil:
		return s.hmacKey, nil
	case t.Method == jwt.SigningMethodRS256 && s.rsaKey != nil:
		return s.rsaKey, nil
	case t.Method == jwt.SigningMethodES256 && s.ecKey != nil:
		return s.ecKey, nil
	}
	return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
}

func (s *jwtStrategy) Name() string { return "jwt" }

func (s *jwtStrategy) Authenticate(_ context.Context, req *Request) (Result, error) {
	var raw string
	{
		p := parsers.Get()
		o, err := authObject(p, req.Data)
		if err != nil {
			parsers.Put(p)
			return Result{}, fmt.Errorf("auth: jwt: %v: %w", err, ErrInvalidCredentials)
		}
		tok, ok, err := stringField(o, "token")
		raw = string(tok)
		parsers.Put(p)
		if !ok {
			return Result{}, fmt.Errorf("auth: jwt: no token: %w", ErrUnknownUser)
		}
		if err != nil {
			return Result{}, fmt.Errorf("auth: jwt: %v: %w", err, ErrInvalidCredentials)
		}
	}
	claims := jwt.MapClaims{}
	tok, err := s.parser.ParseWithClaims(raw, claims, s.keyFunc)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Result{}, fmt.Errorf("auth: jwt: %v: %w: %w", err, ErrInvalidCredentials, ErrExpired)
		}
		return Result{}, fmt.Errorf("auth: jwt: %v: %w", err, ErrInvalidCredentials)
	}
	var res Result
	switch id := claims[s.idClaim].(type) {
	case string:
		res.ID = id
	case json.Number:
		res.ID = id.String()
	case nil:
		return Result{}, fmt.Errorf("auth: jwt: token has no %q claim: %w", s.idClaim, ErrInvalidCredentials)
	default:
		return Result{}, fmt.Errorf("auth: jwt: claim %q is not a string or a number: %w", s.idClaim, ErrInvalidCredentials)
	}
	if res.ID == "" {
		return Result{}, fmt.Errorf("auth: jwt: claim %q is empty: %w", s.idClaim, ErrInvalidCredentials)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return Result{}, fmt.Errorf("auth: jwt: %v: %w", err, ErrInvalidCredentials)
	}
	if exp != nil {
		res.ExpiresAt = exp.Time
	}
	if s.serverClaim == "" {
		// The whole claims object, exactly as signed.
		_, payload, _ := strings.Cut(tok.Raw, ".")
		payload, _, _ = strings.Cut(payload, ".")
		if res.ServerData, err = s.parser.DecodeSegment(payload); err != nil {
			return Result{}, fmt.Errorf("auth: jwt: %v: %w", err, ErrInvalidCredentials)
		}
	} else if res.ServerData, err = claimJSON(claims, s.serverClaim); err != nil {
		return Result{}, fmt.Errorf("auth: jwt: claim %q: %v: %w", s.serverClaim, err, ErrInvalidCredentials)
	}
	if s.clientClaim != "" {
		if res.ClientData, err = claimJSON(claims, s.clientClaim); err != nil {
			return Result{}, fmt.Errorf("auth: jwt: claim %q: %v: %w", s.clientClaim, err, ErrInvalidCredentials)
		}
	}
	return res, nil
}

// claimJSON returns the JSON of one claim, nil when the claim is absent.
func claimJSON(claims jwt.MapClaims, name string) (json.RawMessage, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}
