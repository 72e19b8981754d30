package ws

import (
	"errors"
	"strings"
)

// extension is one element of a Sec-WebSocket-Extensions list.
type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	name     string
	value    string
	hasValue bool
}

var errExtSyntax = errors.New("malformed Sec-WebSocket-Extensions")

// parseExtensions parses the values of Sec-WebSocket-Extensions fields:
//
//	extension-list = 1#( extension-token *( ";" extension-param ) )
//	extension-param = token [ "=" ( token / quoted-string ) ]
//
// Empty list elements are skipped, as RFC 7230 7 allows.
func parseExtensions(values []string) ([]extension, error) {
	var out []extension
	for _, v := range values {
		s := extScanner{s: v}
		for {
			s.skipOWS()
			if s.done() {
				break
			}
			if s.peek() == ',' {
				s.i++
				continue
			}
			name, ok := s.token()
			if !ok {
				return nil, errExtSyntax
			}
			ext := extension{name: strings.ToLower(name)}
			for {
				s.skipOWS()
				if s.done() || s.peek() == ',' {
					break
				}
				if s.peek() != ';' {
					return nil, errExtSyntax
				}
				s.i++
				s.skipOWS()
				pname, ok := s.token()
				if !ok {
					return nil, errExtSyntax
				}
				p := extParam{name: strings.ToLower(pname)}
				s.skipOWS()
				if !s.done() && s.peek() == '=' {
					s.i++
					s.skipOWS()
					if p.value, ok = s.value(); !ok {
						return nil, errExtSyntax
					}
					p.hasValue = true
				}
				ext.params = append(ext.params, p)
			}
			out = append(out, ext)
		}
	}
	return out, nil
}

type extScanner struct {
	s string
	i int
}

func (s *extScanner) done() bool { return s.i >= len(s.s) }
func (s *extScanner) peek() byte { return s.s[s.i] }

func (s *extScanner) skipOWS() {
	for s.i < len(s.s) && (s.s[s.i] == ' ' || s.s[s.i] == '\t') {
		s.i++
	}
}

func (s *extScanner) token() (string, bool) {
	start := s.i
	for s.i < len(s.s) && isTokenChar(s.s[s.i]) {
		s.i++
	}
	return s.s[start:s.i], s.i > start
}

// value reads a token or a quoted-string (unescaped).
func (s *extScanner) value() (string, bool) {
	if s.done() || s.peek() != '"' {
		return s.token()
	}
	s.i++
	var b strings.Builder
	for s.i < len(s.s) {
		c := s.s[s.i]
		s.i++
		switch c {
		case '"':
			return b.String(), true
		case '\\':
			if s.i >= len(s.s) {
				return "", false
			}
			b.WriteByte(s.s[s.i])
			s.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

const extDeflate = "permessage-deflate"

// windowBits parses a *_max_window_bits value: a decimal integer from 8 to
// 15 without leading zeros (RFC 7692 7.1.2.1).
func windowBits(v string) (int, bool) {
	switch len(v) {
	case 1:
		if v[0] >= '8' && v[0] <= '9' {
			return int(v[0] - '0'), true
		}
	case 2:
		if v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
			return 10 + int(v[1]-'0'), true
		}
	}
	return 0, false
}

// deflateOffer is the server's decision on the client's offers.
type deflateOffer struct {
	accepted bool
	// echoServerWindow: the accepted offer named server_max_window_bits=15,
	// which RFC 7692 7.1.2.1 says a server accepts by repeating it.
	echoServerWindow bool
}

// negotiateDeflate picks the first permessage-deflate offer we can honour.
// Our compressor and decompressor are stateless with a 32 KiB window, so:
//
//   - server_no_context_takeover and client_no_context_takeover (no value)
//     are always fine: we answer with both anyway.
//   - client_max_window_bits, with no value or 8..15, is fine: it only
//     tells us the client can limit its window, and an inflater with a
//     32 KiB window reads any smaller window.
//   - server_max_window_bits must be 15: it asks us to compress with at most
//     that window, and our deflate always uses 2^15. An offer with a smaller
//     value is declined (the client may list a fallback offer after it).
//   - Unknown parameters, repeated parameters and invalid values decline the
//     offer (RFC 7692 7.1).
//
// A malformed header is treated as no offer: the connection goes on
// uncompressed.
func negotiateDeflate(values []string) deflateOffer {
	exts, err := parseExtensions(values)
	if err != nil {
		return deflateOffer{}
	}
	for _, e := range exts {
		if e.name != extDeflate {
			continue
		}
		if d, ok := acceptOffer(e.params); ok {
			return d
		}
	}
	return deflateOffer{}
}

func acceptOffer(params []extParam) (deflateOffer, bool) {
	d := deflateOffer{accepted: true}
	var seen [4]bool
	for _, p := range params {
		var idx int
		switch p.name {
		case "server_no_context_takeover":
			idx = 0
			if p.hasValue {
				return d, false
			}
		case "client_no_context_takeover":
			idx = 1
			if p.hasValue {
				return d, false
			}
		case "server_max_window_bits":
			idx = 2
			bits, ok := windowBits(p.value)
			if !p.hasValue || !ok || bits != 15 {
				return d, false
			}
			d.echoServerWindow = true
		case "client_max_window_bits":
			idx = 3
			if p.hasValue {
				if _, ok := windowBits(p.value); !ok {
					return d, false
				}
			}
		default:
			return d, false
		}
		if seen[idx] {
			return d, false
		}
		seen[idx] = true
	}
	return d, true
}

// checkDeflateResponse validates the server's Sec-WebSocket-Extensions
// against our offer, which is always "permessage-deflate;
// server_no_context_takeover; client_no_context_takeover" (see
// AppendRequest). It returns whether deflate was negotiated.
//
// The server must keep server_no_context_takeover (our decompressor is
// stateless); it may add server_max_window_bits with any valid value (a
// smaller window inflates fine); client_max_window_bits was not offered so
// it may not appear (RFC 7692 7.1.2.2); nothing else may appear.
func checkDeflateResponse(values []string, offered bool) (bool, error) {
	exts, err := parseExtensions(values)
	if err != nil {
		return false, badResponse("%v", err)
	}
	if len(exts) == 0 {
		return false, nil
	}
	if len(exts) > 1 {
		return false, badResponse("server accepted %d extensions, we offered one", len(exts))
	}
	e := exts[0]
	if e.name != extDeflate {
		return false, badResponse("server accepted extension %q we did not offer", e.name)
	}
	if !offered {
		return false, badResponse("server accepted permessage-deflate we did not offer")
	}
	var seen [3]bool
	for _, p := range e.params {
		var idx int
		switch p.name {
		case "server_no_context_takeover":
			idx = 0
			if p.hasValue {
				return false, badResponse("server_no_context_takeover with a value")
			}
		case "client_no_context_takeover":
			idx = 1
			if p.hasValue {
				return false, badResponse("client_no_context_takeover with a value")
			}
		case "server_max_window_bits":
			idx = 2
			if _, ok := windowBits(p.value); !p.hasValue || !ok {
				return false, badResponse("invalid server_max_window_bits %q", p.value)
			}
		default:
			return false, badResponse("permessage-deflate parameter %q we did not offer", p.name)
		}
		if seen[idx] {
			return false, badResponse("repeated permessage-deflate parameter %q", p.name)
		}
		seen[idx] = true
	}
	if !seen[0] {
		return false, badResponse("server keeps its compression context; we offered server_no_context_takeover only")
	}
	return true, nil
}
