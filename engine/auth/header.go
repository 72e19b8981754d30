package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
)

// headerStrategy takes the user id from a header set by an authenticating
// reverse proxy. Headers are believed only when the peer is a trusted proxy;
// from anyone else, from raw TCP clients (no headers) and when the proxy sent
// no user header, the strategy answers ErrUnknownUser.
type headerStrategy struct {
	trusted                                []netip.Prefix
	userHeader, serverHeader, clientHeader string
}

func newHeaderStrategy(cfg HeaderConfig) (*headerStrategy, error) {
	trusted, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &headerStrategy{
		trusted:    trusted,
		userHeader: http.CanonicalHeaderKey(cfg.UserHeader),
	}
	if s.userHeader == "" {
		s.userHeader = DefaultUserHeader
	}
	if cfg.ServerDataHeader != "" {
		s.serverHeader = http.CanonicalHeaderKey(cfg.ServerDataHeader)
	}
	if cfg.ClientDataHeader != "" {
		s.clientHeader = http.CanonicalHeaderKey(cfg.ClientDataHeader)
	}
	return s, nil
}

func (s *headerStrategy) Name() string { return "header" }

func (s *headerStrategy) Authenticate(_ context.Context, req *Request) (Result, error) {
	if req.Header == nil {
		return Result{}, fmt.Errorf("auth: header: no upgrade request headers: %w", ErrUnknownUser)
	}
	if !s.isTrusted(req.RemoteAddr) {
		return Result{}, fmt.Errorf("auth: header: peer %q is not a trusted proxy: %w", req.RemoteAddr, ErrUnknownUser)
	}
	id, ok, err := singleHeader(req.Header, s.userHeader)
	if err != nil {
		return Result{}, err
	}
	if !ok || id == "" {
		return Result{}, fmt.Errorf("auth: header: no %s header: %w", s.userHeader, ErrUnknownUser)
	}
	res := Result{ID: id}
	if res.ServerData, err = jsonHeader(req.Header, s.serverHeader); err != nil {
		return Result{}, err
	}
	if res.ClientData, err = jsonHeader(req.Header, s.clientHeader); err != nil {
		return Result{}, err
	}
	return res, nil
}

// isTrusted reports whether addr ("ip:port" or a bare IP) is in a trusted
// prefix. IPv4-mapped IPv6 addresses count as IPv4.
func (s *headerStrategy) isTrusted(addr string) bool {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(addr); err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// singleHeader returns the one value of header name. Several values are
// refused: a proxy that appends instead of replacing would let a client's own
// header through.
func singleHeader(h http.Header, name string) (string, bool, error) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	}
	return "", true, fmt.Errorf("auth: header: %d %s headers: %w", len(vs), name, ErrInvalidCredentials)
}

// jsonHeader returns the JSON in header name; nil when name is "" or the
// header is absent.
func jsonHeader(h http.Header, name string) (json.RawMessage, error) {
	if name == "" {
		return nil, nil
	}
	v, ok, err := singleHeader(h, name)
	if err != nil || !ok {
		return nil, err
	}
	if !json.Valid([]byte(v)) {
		return nil, fmt.Errorf("auth: header: %s is not JSON: %w", name, ErrInvalidCredentials)
	}
	return json.RawMessage(v), nil
}
