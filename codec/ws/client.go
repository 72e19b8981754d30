package ws

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
)

// NewKey returns a fresh Sec-WebSocket-Key: 16 random bytes, base64-encoded.
func NewKey() string {
	var raw [16]byte
	rand.Read(raw[:]) // never fails (crypto/rand documents it panics instead)
	return base64.StdEncoding.EncodeToString(raw[:])
}

// handshakeFields are written by AppendRequest itself; extra may not
// override them.
var handshakeFields = map[string]bool{
	"Host":                     true,
	"Upgrade":                  true,
	"Connection":               true,
	"Sec-Websocket-Key":        true,
	"Sec-Websocket-Version":    true,
	"Sec-Websocket-Extensions": true,
}

// AppendRequest appends a client upgrade request for path (which may carry a
// query) on host. With deflate it offers exactly "permessage-deflate;
// server_no_context_takeover; client_no_context_takeover", the configuration
// Compress and Decompress implement. extra adds header fields in sorted key
// order; keys that are not HTTP tokens and the fields the handshake owns
// (Host, Upgrade, Connection, Sec-WebSocket-Key/Version/Extensions) are
// skipped, and CR, LF or NUL inside a value become spaces.
func AppendRequest(dst []byte, host, path, key string, deflate bool, extra http.Header) []byte {
	if path == "" {
		path = "/"
	}
	dst = append(dst, "GET "...)
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c <= ' ' || c == 0x7f {
			dst = append(dst, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			continue
		}
		dst = append(dst, c)
	}
	dst = append(dst, " HTTP/1.1\r\n"...)
	dst = appendField(dst, "Host", host)
	dst = append(dst, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"...)
	dst = appendField(dst, "Sec-WebSocket-Key", key)
	if deflate {
		dst = append(dst, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"...)
	}
	if len(extra) > 0 {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !isToken(k) || handshakeFields[textproto.CanonicalMIMEHeaderKey(k)] {
				continue
			}
			for _, v := range extra[k] {
				dst = appendField(dst, k, v)
			}
		}
	}
	return append(dst, "\r\n"...)
}

// ParseResponse parses the server's answer to a request made by
// AppendRequest with key, at the start of buf. n == 0 with a nil error means
// the head is not complete yet; otherwise n is the size of the head (frames
// the server sent right after it are not consumed). deflate reports that the
// server accepted permessage-deflate. ParseResponse assumes deflate was
// offered; a client that did not offer it uses ParseResponseOffer, which
// also rejects an unsolicited extension.
//
// Errors wrap ErrBadResponse; a status other than 101 is a *StatusError.
func ParseResponse(buf []byte, key string) (deflate bool, n int, err error) {
	return ParseResponseOffer(buf, key, true)
}

// ParseResponseOffer is ParseResponse for a request whose deflate argument
// was offered.
func ParseResponseOffer(buf []byte, key string, offered bool) (deflate bool, n int, err error) {
	n, err = findHead(buf, DefaultMaxHeader, ErrBadResponse)
	if err != nil || n == 0 {
		return false, 0, err
	}
	head := buf[:n-2]
	eol := bytes.Index(head, crlfcrlf[:2])
	if err := parseStatusLine(head[:eol]); err != nil {
		return false, 0, err
	}
	h := make(http.Header, 8)
	if err := parseFields(head[eol+2:], h, ErrBadResponse); err != nil {
		return false, 0, err
	}
	if !hasToken(h, "Upgrade", "websocket") {
		return false, 0, badResponse("Upgrade does not name websocket")
	}
	if !hasToken(h, "Connection", "upgrade") {
		return false, 0, badResponse("Connection does not name upgrade")
	}
	if accept, ok := single(h, "Sec-Websocket-Accept"); !ok || accept != AcceptKey(key) {
		return false, 0, badResponse("Sec-WebSocket-Accept does not match our key")
	}
	deflate, err = checkDeflateResponse(h["Sec-Websocket-Extensions"], offered)
	if err != nil {
		return false, 0, err
	}
	return deflate, n, nil
}

func parseStatusLine(line []byte) error {
	proto, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || string(proto) != "HTTP/1.1" {
		return badResponse("malformed status line")
	}
	code, reason, _ := bytes.Cut(rest, []byte{' '})
	status, err := strconv.Atoi(string(code))
	if err != nil || len(code) != 3 || status < 100 {
		return badResponse("malformed status code %q", code)
	}
	if status != http.StatusSwitchingProtocols {
		return &StatusError{Status: status, Reason: string(reason)}
	}
	return nil
}
