package ws

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// acceptGUID is the fixed suffix of RFC 6455 section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Request is a parsed WebSocket upgrade request. Every field is a copy:
// nothing aliases the buffer given to ParseRequest.
type Request struct {
	Method   string // always "GET"
	Path     string // request-target up to '?', e.g. "/deepstream"
	RawQuery string // request-target after '?', without it; "" when absent
	Host     string
	Key      string // Sec-WebSocket-Key, validated: base64 of 16 bytes
	Origin   string // "" when absent (non-browser clients)
	// Protocols lists the Sec-WebSocket-Protocol values in the client's
	// order of preference.
	Protocols []string
	// Deflate: the client offered permessage-deflate with parameters we can
	// honour (see negotiateDeflate in extensions.go for the exact rules).
	Deflate bool
	// Header holds every request header field with canonical keys
	// ("Sec-Websocket-Key", "Authorization", ...).
	Header http.Header

	echoServerWindow bool
}

// ParseRequest parses an HTTP/1.1 WebSocket upgrade request (RFC 6455 4.2.1)
// at the start of buf. n == 0 with a nil error means the head is not complete
// yet; otherwise n is the size of the head (bytes after it, such as frames the
// client pipelined, are not consumed). maxSize bounds the head; <= 0 means
// DefaultMaxHeader.
//
// All errors wrap ErrBadRequest; a head over maxSize also wraps ErrTooLarge
// and a missing or wrong Sec-WebSocket-Version also wraps ErrVersion.
// HTTPStatus turns an error into the status to answer with.
func ParseRequest(buf []byte, maxSize int) (req *Request, n int, err error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxHeader
	}
	n, err = findHead(buf, maxSize, ErrBadRequest)
	if err != nil || n == 0 {
		return nil, 0, err
	}
	head := buf[:n-2] // every line, each with its CRLF
	eol := bytes.Index(head, crlfcrlf[:2])
	req = &Request{Header: make(http.Header, 12)}
	if err := req.parseRequestLine(head[:eol]); err != nil {
		return nil, 0, err
	}
	if err := parseFields(head[eol+2:], req.Header, ErrBadRequest); err != nil {
		return nil, 0, err
	}
	if err := req.validate(); err != nil {
		return nil, 0, err
	}
	return req, n, nil
}

func (r *Request) parseRequestLine(line []byte) error {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, proto, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 {
		return badRequest("malformed request line")
	}
	if string(method) != http.MethodGet {
		return badRequest("method %q, want GET", method)
	}
	// HTTP/1.1 or a later 1.x (RFC 6455 4.1: "at least 1.1").
	if len(proto) != 8 || string(proto[:7]) != "HTTP/1." || proto[7] < '1' || proto[7] > '9' {
		return badRequest("protocol %q, want HTTP/1.1", proto)
	}
	if len(target) == 0 || target[0] != '/' {
		return badRequest("request target must be an absolute path")
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return badRequest("invalid character in request target")
		}
	}
	r.Method = http.MethodGet
	path, query, _ := bytes.Cut(target, []byte{'?'})
	r.Path = string(path)
	r.RawQuery = string(query)
	return nil
}

func (r *Request) validate() error {
	h := r.Header
	host, ok := single(h, "Host")
	if !ok || host == "" {
		return badRequest("want exactly one Host")
	}
	r.Host = host
	if !hasToken(h, "Upgrade", "websocket") {
		return badRequest("Upgrade does not name websocket")
	}
	if !hasToken(h, "Connection", "upgrade") {
		return badRequest("Connection does not name upgrade")
	}
	if v, ok := single(h, "Sec-Websocket-Version"); !ok || v != "13" {
		return badRequest("%w: Sec-WebSocket-Version %q, want 13", ErrVersion, strings.Join(h["Sec-Websocket-Version"], ","))
	}
	key, ok := single(h, "Sec-Websocket-Key")
	if !ok || !validKey(key) {
		return badRequest("Sec-WebSocket-Key must be one base64-encoded 16-byte value")
	}
	r.Key = key
	// A body would follow the head and be taken for frames.
	if len(h["Transfer-Encoding"]) > 0 {
		return badRequest("upgrade request with Transfer-Encoding")
	}
	if cl, ok := h["Content-Length"]; ok && (len(cl) != 1 || cl[0] != "0") {
		return badRequest("upgrade request with a body")
	}
	if o, ok := h["Origin"]; ok {
		if len(o) != 1 {
			return badRequest("repeated Origin")
		}
		r.Origin = o[0]
	}
	for _, v := range h["Sec-Websocket-Protocol"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				if !isToken(p) {
					return badRequest("invalid subprotocol %q", p)
				}
				r.Protocols = append(r.Protocols, p)
			}
		}
	}
	offer := negotiateDeflate(h["Sec-Websocket-Extensions"])
	r.Deflate = offer.accepted
	r.echoServerWindow = offer.echoServerWindow
	return nil
}

func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var raw [18]byte
	n, err := base64.StdEncoding.Decode(raw[:], []byte(key))
	return err == nil && n == 16
}

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// AppendResponse appends the 101 Switching Protocols answer to req. The
// extension is accepted only when deflate && req.Deflate, so the caller
// configures its Parser with Deflate: deflate && req.Deflate. The accepted
// extension always reads "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover", plus "; server_max_window_bits=15" when the
// client's offer named that parameter (RFC 7692 7.1.2.1: the server accepts
// it by repeating it).
func AppendResponse(dst []byte, req *Request, deflate bool) []byte {
	return AppendResponseProtocol(dst, req, deflate, "")
}

// AppendResponseProtocol is AppendResponse that also selects a subprotocol
// (Sec-WebSocket-Protocol), which should be one of req.Protocols; "" selects
// none.
func AppendResponseProtocol(dst []byte, req *Request, deflate bool, protocol string) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, AcceptKey(req.Key)...)
	dst = append(dst, "\r\n"...)
	if deflate && req.Deflate {
		dst = append(dst, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"...)
		if req.echoServerWindow {
			dst = append(dst, "; server_max_window_bits=15"...)
		}
		dst = append(dst, "\r\n"...)
	}
	if protocol != "" {
		dst = appendField(dst, "Sec-WebSocket-Protocol", protocol)
	}
	return append(dst, "\r\n"...)
}

// AppendHTTPError appends a complete plain-text error response that closes
// the connection: status line, Content-Type, Content-Length, Connection:
// close, and msg as the body. A 426 also carries "Sec-WebSocket-Version: 13"
// and "Upgrade: websocket" (RFC 6455 4.4, RFC 7231 6.5.15).
func AppendHTTPError(dst []byte, status int, msg string) []byte {
	text := http.StatusText(status)
	if text == "" {
		text = "Error"
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, text...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(msg)+1), 10)
	dst = append(dst, "\r\nConnection: close\r\n"...)
	if status == http.StatusUpgradeRequired {
		dst = append(dst, "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, msg...)
	return append(dst, '\n')
}
