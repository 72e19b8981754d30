package ws

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// These tests run our codec against an independent implementation,
// gorilla/websocket, over real loopback sockets in both roles.

const interopTimeout = 10 * time.Second

// codecServer is a minimal WebSocket server built only from this package:
// it echoes data messages (compressed when deflate was negotiated,
// fragmented when large), answers pings, sends a ping of its own when asked
// "ping me" and reports the pong, and echoes the close code.
type codecServer struct {
	ln       net.Listener
	maxMsg   int
	received chan got       // every frame the server parsed
	stats    chan wireStats // per connection, what arrived on the wire
	wg       sync.WaitGroup
}

func startCodecServer(t *testing.T, maxMsg int) *codecServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &codecServer{ln: ln, maxMsg: maxMsg, received: make(chan got, 1024), stats: make(chan wireStats, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// connReader accumulates socket bytes the way an event loop's inbound
// buffer does: parsers see everything buffered and the consumed prefix is
// dropped.
type connReader struct {
	c   net.Conn
	buf []byte
	log []byte // when non-nil, every byte read is appended
}

func (r *connReader) more() error {
	if len(r.buf) == cap(r.buf) {
		r.buf = append(make([]byte, 0, 2*cap(r.buf)+4096), r.buf...)
	}
	n, err := r.c.Read(r.buf[len(r.buf):cap(r.buf)])
	if r.log != nil {
		r.log = append(r.log, r.buf[len(r.buf):len(r.buf)+n]...)
	}
	r.buf = r.buf[:len(r.buf)+n]
	if n > 0 {
		return nil
	}
	return err
}

func (r *connReader) discard(n int) { r.buf = append(r.buf[:0], r.buf[n:]...) }

// wireStats counts the frames in a logged byte stream (after the handshake).
type wireStats struct {
	frames, nonFinal, compressed, long64 int
}

func countFrames(b []byte) (s wireStats) {
	for len(b) >= 2 {
		size, length := 2, uint64(b[1]&0x7f)
		switch length {
		case 126:
			length, size = uint64(b[2])<<8|uint64(b[3]), 4
		case 127:
			length, size = 0, 10
			for _, c := range b[2:10] {
				length = length<<8 | uint64(c)
			}
			s.long64++
		}
		if b[1]&0x80 != 0 {
			size += 4
		}
		s.frames++
		if b[0]&bitFin == 0 {
			s.nonFinal++
		}
		if b[0]&bitRSV1 != 0 {
			s.compressed++
		}
		b = b[min(uint64(len(b)), uint64(size)+length):]
	}
	return s
}

func (s *codecServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(interopTimeout))
	r := &connReader{c: c}
	var req *Request
	for req == nil {
		q, n, err := ParseRequest(r.buf, 0)
		if err != nil {
			c.Write(AppendHTTPError(nil, HTTPStatus(err), err.Error()))
			return
		}
		if n == 0 {
			if r.more() != nil {
				return
			}
			continue
		}
		req = q
		r.discard(n)
	}
	proto := ""
	if len(req.Protocols) > 0 {
		proto = req.Protocols[0]
	}
	deflate := req.Deflate
	if _, err := c.Write(AppendResponseProtocol(nil, req, deflate, proto)); err != nil {
		return
	}
	r.log = append([]byte{}, r.buf...)
	defer func() { s.stats <- countFrames(r.log) }()
	p := Parser{MaxMessage: s.maxMsg, Deflate: deflate}
	for {
		f, n, err := p.Next(r.buf)
		if err != nil {
			var ce *CloseError
			errors.As(err, &ce)
			s.received <- got{Op: OpClose, CloseCode: ce.Code, CloseReason: "error: " + err.Error()}
			s.closeAndDrain(c, AppendClose(nil, ce.Code, ce.Reason, nil))
			return
		}
		if n == 0 {
			if r.more() != nil {
				return
			}
			continue
		}
		fc := copyFrame(f)
		r.discard(n)
		if fc.Op == OpContinuation {
			continue
		}
		s.received <- fc
		var out []byte
		switch fc.Op {
		case OpText, OpBinary:
			if fc.Payload == "ping me" {
				out = AppendFrame(nil, OpPing, []byte("srv"), false, nil)
			} else {
				out = appendMessage(nil, fc.Op, []byte(fc.Payload), deflate, nil)
			}
		case OpPing:
			out = AppendFrame(nil, OpPong, []byte(fc.Payload), false, nil)
		case OpPong:
			out = AppendFrame(nil, OpText, []byte("pong:"+fc.Payload), false, nil)
		case OpClose:
			s.closeAndDrain(c, AppendClose(nil, fc.CloseCode, fc.CloseReason, nil))
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// closeAndDrain sends a close frame, half-closes, and reads until the peer
// closes, so the close frame is not lost to a reset.
func (s *codecServer) closeAndDrain(c net.Conn, closeFrame []byte) {
	c.Write(closeFrame)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	io.Copy(io.Discard, c)
}

// appendMessage frames msg the way both our test endpoints send: compressed
// when deflate, as three fragments when 1,000 to 99,999 bytes on the wire,
// in one frame otherwise (so large messages use the 64-bit length).
func appendMessage(dst []byte, op Opcode, msg []byte, deflate bool, mask *[4]byte) []byte {
	if deflate {
		msg = Compress(nil, msg)
	}
	if len(msg) >= 1000 && len(msg) < 100000 {
		return appendFragments(dst, op, msg, len(msg)/3+1, deflate, mask)
	}
	return AppendFrame(dst, op, msg, deflate, mask)
}

func interopMessages() [][]byte {
	return [][]byte{
		{},
		[]byte("hello"),
		bytes.Repeat([]byte(`{"k":"v"},`), 500), // 5,000 bytes
		pseudoRandom(70000),
		bytes.Repeat([]byte("abcdefgh"), 25000), // 200,000 bytes
	}
}

func TestInteropGorillaClient(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compression=%v", compress), func(t *testing.T) {
			s := startCodecServer(t, 1<<20)
			d := websocket.Dialer{EnableCompression: compress, ReadBufferSize: 256, WriteBufferSize: 256,
				Subprotocols: []string{"eddy.v1", "other"}, HandshakeTimeout: interopTimeout}
			c, resp, err := d.Dial("ws://"+s.ln.Addr().String()+"/ws?x=1", http.Header{"Origin": {"http://localhost"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(interopTimeout))
			if c.Subprotocol() != "eddy.v1" {
				t.Fatalf("subprotocol %q", c.Subprotocol())
			}
			if got := resp.Header.Get("Sec-Websocket-Extensions") != ""; got != compress {
				t.Fatalf("deflate negotiated = %v", got)
			}
			for i, msg := range interopMessages() {
				mt := websocket.BinaryMessage
				op := OpBinary
				if i%2 == 0 {
					mt, op = websocket.TextMessage, OpText
				}
				if err := c.WriteMessage(mt, msg); err != nil {
					t.Fatal(err)
				}
				rt, echo, err := c.ReadMessage()
				if err != nil || rt != mt || !bytes.Equal(echo, msg) {
					t.Fatalf("message %d (%d bytes): type %d, %d bytes back, %v", i, len(msg), rt, len(echo), err)
				}
				f := <-s.received
				if f.Op != op || f.Payload != string(msg) || (f.Compressed != compress) {
					t.Fatalf("server saw %v compressed=%v for message %d", f.Op, f.Compressed, i)
				}
			}
			// Ping from gorilla; our pong reaches its handler before the
			// next echo.
			pong := make(chan string, 1)
			c.SetPongHandler(func(data string) error { pong <- data; return nil })
			if err := c.WriteControl(websocket.PingMessage, []byte("cli-ping"), time.Now().Add(interopTimeout)); err != nil {
				t.Fatal(err)
			}
			c.WriteMessage(websocket.TextMessage, []byte("after ping"))
			if _, echo, err := c.ReadMessage(); err != nil || string(echo) != "after ping" {
				t.Fatalf("echo after ping: %q %v", echo, err)
			}
			if got := <-pong; got != "cli-ping" {
				t.Fatalf("pong %q", got)
			}
			// Our ping; gorilla answers with a pong, which the server
			// reports back as text.
			c.WriteMessage(websocket.TextMessage, []byte("ping me"))
			if _, echo, err := c.ReadMessage(); err != nil || string(echo) != "pong:srv" {
				t.Fatalf("server ping: %q %v", echo, err)
			}
			// Close handshake with an application code.
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"))
			_, _, err = c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4001 || ce.Text != "bye" {
				t.Fatalf("close: %v", err)
			}
			// Gorilla's small write buffer fragmented the larger messages.
			c.Close()
			st := <-s.stats
			if st.nonFinal == 0 || (st.compressed > 0) != compress {
				t.Fatalf("client frames: %+v", st)
			}
		})
	}
}

func TestInteropGorillaClientErrors(t *testing.T) {
	cases := []struct {
		name     string
		compress bool
		mt       int
		msg      []byte
		code     int
	}{
		{"too big on the wire", false, websocket.BinaryMessage, pseudoRandom(300 << 10), 1009},
		{"too big after inflating", true, websocket.BinaryMessage, make([]byte, 300<<10), 1009},
		{"invalid utf-8", false, websocket.TextMessage, []byte("ok\xffno"), 1007},
		{"invalid utf-8 compressed", true, websocket.TextMessage, []byte("ok\xffno"), 1007},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startCodecServer(t, 256<<10)
			d := websocket.Dialer{EnableCompression: c.compress, HandshakeTimeout: interopTimeout}
			conn, _, err := d.Dial("ws://"+s.ln.Addr().String()+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(interopTimeout))
			if err := conn.WriteMessage(c.mt, c.msg); err != nil {
				t.Fatal(err)
			}
			_, _, err = conn.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != c.code {
				t.Fatalf("want close %d, got %v", c.code, err)
			}
			if f := <-s.received; int(f.CloseCode) != c.code || !strings.HasPrefix(f.CloseReason, "error: ws: ") {
				t.Fatalf("server saw %+v", f)
			}
		})
	}
}

// gorillaEcho is a gorilla/websocket server that echoes data messages in
// 1,000-byte frames, pings when asked "ping me", and closes when told.
func gorillaEcho(t *testing.T, compress bool) *httptest.Server {
	up := websocket.Upgrader{
		EnableCompression: compress,
		WriteBufferSize:   512,
		Subprotocols:      []string{"eddy.v1"},
		CheckOrigin: func(r *http.Request) bool {
			return r.Header.Get("Origin") != "http://evil.example"
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(4 << 20)
		c.SetReadDeadline(time.Now().Add(interopTimeout))
		for {
			mt, data, err := c.ReadMessage()
			if err != nil {
				return // the default close handler already answered a close
			}
			if string(data) == "ping me" {
				c.WriteControl(websocket.PingMessage, []byte("gorilla"), time.Now().Add(interopTimeout))
				continue
			}
			w, err := c.NextWriter(mt)
			if err != nil {
				return
			}
			for len(data) > 1000 {
				w.Write(data[:1000])
				data = data[1000:]
			}
			w.Write(data)
			if w.Close() != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// codecClient is the client side of this package over a net.Conn.
type codecClient struct {
	t    *testing.T
	r    *connReader
	p    Parser
	mask [4]byte
}

func dialCodec(t *testing.T, addr string, deflate bool, extra http.Header) (*codecClient, bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(interopTimeout))
	key := NewKey()
	if _, err := c.Write(AppendRequest(nil, addr, "/ws?room=1", key, deflate, extra)); err != nil {
		t.Fatal(err)
	}
	r := &connReader{c: c}
	for {
		negotiated, n, err := ParseResponseOffer(r.buf, key, deflate)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			r.discard(n)
			r.log = append([]byte{}, r.buf...)
			return &codecClient{t: t, r: r, p: Parser{Client: true, Deflate: negotiated, MaxMessage: 4 << 20}, mask: [4]byte{9, 8, 7, 6}}, negotiated
		}
		if err := r.more(); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *codecClient) send(wire []byte) {
	if _, err := c.r.c.Write(wire); err != nil {
		c.t.Fatal(err)
	}
}

func (c *codecClient) read() got {
	for {
		f, n, err := c.p.Next(c.r.buf)
		if err != nil {
			c.t.Fatal(err)
		}
		if n > 0 {
			fc := copyFrame(f)
			c.r.discard(n)
			if fc.Op != OpContinuation {
				return fc
			}
			continue
		}
		if err := c.r.more(); err != nil {
			c.t.Fatal(err)
		}
	}
}

func TestInteropGorillaServer(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			srv := gorillaEcho(t, true)
			addr := strings.TrimPrefix(srv.URL, "http://")
			c, negotiated := dialCodec(t, addr, deflate, http.Header{"Sec-WebSocket-Protocol": {"eddy.v1"}})
			if negotiated != deflate {
				t.Fatalf("negotiated deflate = %v", negotiated)
			}
			for i, msg := range interopMessages() {
				op := OpBinary
				if i%2 == 0 {
					op = OpText
				}
				c.mask[0]++ // a different key per message
				c.send(appendMessage(nil, op, msg, deflate, &c.mask))
				f := c.read()
				if f.Op != op || f.Payload != string(msg) || f.Compressed != deflate {
					t.Fatalf("message %d (%d bytes): got %v, %d bytes, compressed=%v", i, len(msg), f.Op, len(f.Payload), f.Compressed)
				}
			}
			// Our ping, gorilla's pong.
			c.send(AppendFrame(nil, OpPing, []byte("cli"), false, &c.mask))
			if f := c.read(); f.Op != OpPong || f.Payload != "cli" {
				t.Fatalf("want pong, got %+v", f)
			}
			// Gorilla's ping; we answer, and the connection goes on.
			c.send(AppendFrame(nil, OpText, []byte("ping me"), false, &c.mask))
			f := c.read()
			if f.Op != OpPing || f.Payload != "gorilla" {
				t.Fatalf("want ping, got %+v", f)
			}
			c.send(AppendFrame(nil, OpPong, []byte(f.Payload), false, &c.mask))
			c.send(appendMessage(nil, OpText, []byte("still here"), deflate, &c.mask))
			if f := c.read(); f.Payload != "still here" {
				t.Fatalf("after ping: %+v", f)
			}
			// Close: gorilla echoes the code.
			c.send(AppendClose(nil, 4002, "done", &c.mask))
			if f := c.read(); f.Op != OpClose || f.CloseCode != 4002 {
				t.Fatalf("want close 4002, got %+v", f)
			}
			// Gorilla fragmented its echoes; ours had 64-bit lengths.
			if st := countFrames(c.r.log); st.nonFinal == 0 || (st.compressed > 0) != deflate {
				t.Fatalf("server frames: %+v", st)
			}
		})
	}
	t.Run("server without compression", func(t *testing.T) {
		srv := gorillaEcho(t, false)
		c, negotiated := dialCodec(t, strings.TrimPrefix(srv.URL, "http://"), true, nil)
		if negotiated {
			t.Fatal("deflate negotiated with a server that does not compress")
		}
		c.send(AppendFrame(nil, OpBinary, []byte("x"), false, &c.mask))
		if f := c.read(); f.Payload != "x" || f.Compressed {
			t.Fatalf("%+v", f)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		srv := gorillaEcho(t, true)
		addr := strings.TrimPrefix(srv.URL, "http://")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(interopTimeout))
		key := NewKey()
		conn.Write(AppendRequest(nil, addr, "/", key, true, http.Header{"Origin": {"http://evil.example"}}))
		r := &connReader{c: conn}
		for {
			_, n, err := ParseResponse(r.buf, key)
			var se *StatusError
			if errors.As(err, &se) {
				if se.Status != http.StatusForbidden || !errors.Is(err, ErrBadResponse) {
					t.Fatalf("status %d", se.Status)
				}
				return
			}
			if err != nil || n > 0 {
				t.Fatalf("want a 403, got n=%d err=%v", n, err)
			}
			if err := r.more(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
