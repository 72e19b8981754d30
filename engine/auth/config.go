package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// Config lists the strategies of a Chain in the order they are tried.
// engine/config embeds it under `auth:`. An empty list means one "none"
// strategy: everyone is accepted.
type Config struct {
	// Strategies are tried in order. Default: [{type: none}].
	Strategies []StrategyConfig `yaml:"strategies"`
}

// StrategyConfig configures one strategy. Type selects it; only the fields of
// that type may be set (the others must stay empty), so a field given to the
// wrong strategy is reported instead of silently ignored. In YAML the fields
// of every type sit directly beside `type`.
type StrategyConfig struct {
	// Type is one of none, file, jwt, header, http. Required.
	Type string `yaml:"type"`

	File   FileConfig   `yaml:",inline"`
	JWT    JWTConfig    `yaml:",inline"`
	Header HeaderConfig `yaml:",inline"`
	HTTP   HTTPConfig   `yaml:",inline"`
}

// FileConfig configures the "file" strategy.
type FileConfig struct {
	// Path is the users file. Required. Its format:
	//
	//	users:
	//	  ann:
	//	    password: "$argon2id$v=19$m=19456,t=2,p=1$..."   # or a bcrypt $2b$ hash
	//	    serverData: {role: admin}                          # optional
	//	    clientData: {name: Ann}                            # optional
	Path string `yaml:"path,omitempty"`
	// ReloadInterval is how often, at most, the file's modification time is
	// checked (during a login) to reload it. Default 2s; negative disables
	// reloading.
	ReloadInterval time.Duration `yaml:"reloadInterval,omitempty"`
}

// JWTConfig configures the "jwt" strategy. At least one key must be given;
// only the algorithms whose key is configured are accepted.
type JWTConfig struct {
	// HMACSecret enables HS256 with this secret (at least 32 bytes).
	// Default: HS256 disabled.
	HMACSecret string `yaml:"hmacSecret,omitempty"`
	// HMACSecretFile enables HS256 with the contents of this file (trailing
	// newlines removed). Exclusive with HMACSecret. Default: none.
	HMACSecretFile string `yaml:"hmacSecretFile,omitempty"`
	// RSAPublicKey enables RS256: an RSA public key (at least 2048 bits) in
	// PEM, inline or as the path of a PEM file. Default: RS256 disabled.
	RSAPublicKey string `yaml:"rsaPublicKey,omitempty"`
	// ECPublicKey enables ES256: a P-256 public key in PEM, inline or as the
	// path of a PEM file. Default: ES256 disabled.
	ECPublicKey string `yaml:"ecPublicKey,omitempty"`
	// Issuer, when set, must equal the token's iss. Default: not checked.
	Issuer string `yaml:"issuer,omitempty"`
	// Audience, when set, must be one of the token's aud. Default: not checked.
	Audience string `yaml:"audience,omitempty"`
	// RequireExpiry refuses tokens without exp. Default false: a token
	// without exp never expires.
	RequireExpiry bool `yaml:"requireExpiry,omitempty"`
	// Leeway is the clock skew allowed when checking exp and nbf. Default 0.
	Leeway time.Duration `yaml:"leeway,omitempty"`
	// IDClaim names the claim holding the user id (a string or a number).
	// Default "sub".
	IDClaim string `yaml:"idClaim,omitempty"`
	// ServerDataClaim names the claim that becomes the user's server data.
	// Default "": the whole claims object.
	ServerDataClaim string `yaml:"serverDataClaim,omitempty"`
	// ClientDataClaim names the claim returned to the client. Default "":
	// no client data.
	ClientDataClaim string `yaml:"clientDataClaim,omitempty"`
}

// HeaderConfig configures the "header" strategy, for deployments behind a
// reverse proxy that authenticates users and passes the user id on in a
// header of the WebSocket upgrade request.
type HeaderConfig struct {
	// TrustedProxies are the CIDRs (or single IPs) of the proxies whose
	// headers are believed. Required. From any other peer the strategy
	// answers ErrUnknownUser.
	TrustedProxies []string `yaml:"trustedProxies,omitempty"`
	// UserHeader holds the user id. Default "X-Forwarded-User".
	UserHeader string `yaml:"userHeader,omitempty"`
	// ServerDataHeader, when set, names a header holding the user's server
	// data as JSON. Default: no server data.
	ServerDataHeader string `yaml:"serverDataHeader,omitempty"`
	// ClientDataHeader, when set, names a header holding the client data as
	// JSON. Default: no client data.
	ClientDataHeader string `yaml:"clientDataHeader,omitempty"`
}

// HTTPConfig configures the "http" (webhook) strategy.
type HTTPConfig struct {
	// URL receives a POST with {"authData", "remoteAddr", "headers"} for each
	// login. Required; http or https.
	URL string `yaml:"url,omitempty"`
	// Timeout bounds each webhook call. Default 2s.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// ForwardHeaders names the upgrade-request headers copied into the
	// request's "headers" object (for example Cookie). Default: none.
	ForwardHeaders []string `yaml:"forwardHeaders,omitempty"`
	// RequestHeaders are added to every webhook request, for example an
	// Authorization header that proves the caller is Eddy. Default: none.
	RequestHeaders map[string]string `yaml:"requestHeaders,omitempty"`
	// CacheTTL keeps successful answers this long, keyed by a hash of the
	// auth data and the forwarded headers. Default 0: no cache.
	CacheTTL time.Duration `yaml:"cacheTTL,omitempty"`
	// CacheSize bounds the number of cached answers. Default 1024 (used only
	// when CacheTTL > 0).
	CacheSize int `yaml:"cacheSize,omitempty"`
}

// Defaults applied by New for zero fields.
const (
	DefaultReloadInterval = 2 * time.Second
	DefaultIDClaim        = "sub"
	DefaultUserHeader     = "X-Forwarded-User"
	DefaultHTTPTimeout    = 2 * time.Second
	DefaultCacheSize      = 1024
)

// Validate checks the configuration without touching files or the network.
// New calls it too.
func (c Config) Validate() error {
	for i := range c.Strategies {
		if err := c.Strategies[i].validate(); err != nil {
			return fmt.Errorf("auth: strategy %d (%s): %w", i+1, c.Strategies[i].Type, err)
		}
		if c.Strategies[i].Type == "none" && i < len(c.Strategies)-1 {
			return fmt.Errorf("auth: strategy %d (%s) is never tried: none before it accepts everyone",
				i+2, c.Strategies[i+1].Type)
		}
	}
	return nil
}

var strategyTypes = []string{"none", "file", "jwt", "header", "http"}

func (s *StrategyConfig) validate() error {
	// Fields of the other types must be empty.
	sections := map[string]any{"file": s.File, "jwt": s.JWT, "header": s.Header, "http": s.HTTP}
	known := false
	for _, t := range strategyTypes {
		if t == s.Type {
			known = true
		}
	}
	if !known {
		return fmt.Errorf("unknown type %q (want one of %s)", s.Type, strings.Join(strategyTypes, ", "))
	}
	for _, t := range strategyTypes[1:] {
		if t != s.Type && !reflect.ValueOf(sections[t]).IsZero() {
			return fmt.Errorf("has settings of a %q strategy", t)
		}
	}
	switch s.Type {
	case "file":
		if s.File.Path == "" {
			return fmt.Errorf("path is required")
		}
	case "jwt":
		j := &s.JWT
		if j.HMACSecret == "" && j.HMACSecretFile == "" && j.RSAPublicKey == "" && j.ECPublicKey == "" {
			return fmt.Errorf("no key: set hmacSecret, hmacSecretFile, rsaPublicKey or ecPublicKey")
		}
		if j.HMACSecret != "" && j.HMACSecretFile != "" {
			return fmt.Errorf("hmacSecret and hmacSecretFile are exclusive")
		}
		if j.HMACSecret != "" && len(j.HMACSecret) < minHMACSecret {
			return fmt.Errorf("hmacSecret is %d bytes; HS256 needs at least %d", len(j.HMACSecret), minHMACSecret)
		}
		if j.Leeway < 0 {
			return fmt.Errorf("leeway %v is negative", j.Leeway)
		}
	case "header":
		if len(s.Header.TrustedProxies) == 0 {
			return fmt.Errorf("trustedProxies is required")
		}
		if _, err := parsePrefixes(s.Header.TrustedProxies); err != nil {
			return err
		}
	case "http":
		h := &s.HTTP
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q is not an http or https URL", h.URL)
		}
		if h.Timeout < 0 || h.CacheTTL < 0 || h.CacheSize < 0 {
			return fmt.Errorf("timeout, cacheTTL and cacheSize must not be negative")
		}
		for k := range h.RequestHeaders {
			if k == "" || strings.ContainsAny(k, " \t\r\n:") {
				return fmt.Errorf("requestHeaders: bad header name %q", k)
			}
		}
	}
	return nil
}

// parsePrefixes parses CIDRs or single addresses.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trustedProxies: %q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// New validates cfg and builds its Chain: it loads the users files and keys.
// An empty configuration gives a Chain of one "none" strategy.
func New(cfg Config, opts ...Option) (*Chain, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	list := cfg.Strategies
	if len(list) == 0 {
		list = []StrategyConfig{{Type: "none"}}
	}
	strategies := make([]Strategy, 0, len(list))
	for i := range list {
		s, err := newStrategy(&list[i], &o)
		if err != nil {
			return nil, fmt.Errorf("auth: strategy %d (%s): %w", i+1, list[i].Type, err)
		}
		strategies = append(strategies, s)
	}
	return &Chain{strategies: strategies}, nil
}

func newStrategy(sc *StrategyConfig, o *options) (Strategy, error) {
	switch sc.Type {
	case "none":
		return noneStrategy{}, nil
	case "file":
		return newFileStrategy(sc.File, o.logger)
	case "jwt":
		return newJWTStrategy(sc.JWT)
	case "header":
		return newHeaderStrategy(sc.Header)
	case "http":
		return newWebhookStrategy(sc.HTTP)
	}
	return nil, fmt.Errorf("unknown type %q", sc.Type) // unreachable after Validate
}

// canonicalHeaders returns the canonical forms of header names.
func canonicalHeaders(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, http.CanonicalHeaderKey(n))
		}
	}
	return out
}
