package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/eddy-realtime/eddy/codec/frame"
)

// chunkConn is a net.Conn whose reads return the scripted chunks in turn.
type chunkConn struct {
	net.Conn
	chunks [][]byte
	wrote  bytes.Buffer
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func (c *chunkConn) Write(p []byte) (int, error) { return c.wrote.Write(p) }
func (c *chunkConn) Close() error                { return nil }

func frames(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = frame.Append(b, []byte(p))
	}
	return b
}

// readAll drains a TCP transport fed with stream split at the given points.
func readAll(t testing.TB, stream []byte, cuts []int, max int) ([]string, error) {
	var chunks [][]byte
	prev := 0
	for _, c := range cuts {
		if c > prev && c < len(stream) {
			chunks = append(chunks, stream[prev:c])
			prev = c
		}
	}
	chunks = append(chunks, stream[prev:])
	tr := NewTCP(&chunkConn{chunks: chunks}, max)
	var got []string
	for {
		p, err := tr.ReadMessage()
		if err != nil {
			return got, err
		}
		got = append(got, string(p))
	}
}

func TestTCPReadSurvivesEverySplit(t *testing.T) {
	big := strings.Repeat("x", 40<<10) // forces the read buffer to grow
	want := []string{"a", "", "hello", big, "z"}
	stream := frames(want...)
	for cut := 0; cut <= len(stream); cut += 1 + cut/64 {
		got, err := readAll(t, stream, []int{cut, cut + 3, cut + 5000}, 1<<20)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("cut %d: err %v", cut, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("cut %d: got %d messages", cut, len(got))
		}
	}
	// Byte-by-byte delivery of the small frames.
	small := frames("ab", "cde", "")
	cuts := make([]int, len(small))
	for i := range cuts {
		cuts[i] = i
	}
	got, _ := readAll(t, small, cuts, 64)
	if strings.Join(got, "|") != "ab|cde|" {
		t.Fatalf("byte by byte: %q", got)
	}
}

func TestTCPReadRejectsOversizedFrame(t *testing.T) {
	_, err := readAll(t, frames("12345678"), nil, 4)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, frame.ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	got, err := readAll(t, frames("1234", "12345"), nil, 4)
	if len(got) != 1 || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %q, err %v", got, err)
	}
}

func TestTCPWriteIsOneCall(t *testing.T) {
	cc := &chunkConn{}
	tr := NewTCP(cc, 0)
	b := frames("a", "b", "c")
	if err := tr.WriteFrames(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cc.wrote.Bytes(), b) {
		t.Fatal("bytes changed")
	}
}

func TestDialAddresses(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"http://x/", "tcp://", "::bad", "ws://"} {
		if _, err := Dial(ctx, addr, Options{}); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%q: err %v", addr, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write(frames("hi"))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}()
	// A bare host:port is raw TCP.
	tr, err := Dial(ctx, ln.Addr().String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.ReadMessage()
	if err != nil || string(p) != "hi" {
		t.Fatalf("%q %v", p, err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}

// wsServer runs handler on every accepted WebSocket connection.
func wsServer(t *testing.T, handler func(c *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		handler(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

func TestWebSocketRoundTrip(t *testing.T) {
	url := wsServer(t, func(c *websocket.Conn) {
		defer c.CloseNow()
		c.SetReadLimit(-1)
		for { // echo every binary message
			typ, p, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, p); err != nil {
				return
			}
		}
	})
	tr, err := Dial(context.Background(), url, Options{MaxFrame: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 50<<10)
	if err := tr.WriteFrames(frames("one", "", big)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "", big} {
		p, err := tr.ReadMessage()
		if err != nil || string(p) != want {
			t.Fatalf("got %d bytes, err %v", len(p), err)
		}
	}
	if err := tr.WriteFrames(frames("x")[:3]); err == nil {
		t.Fatal("partial frame accepted")
	}
	// With an answering peer the close handshake ends long before the
	// timeout, even on a loaded machine; a hang waits it out.
	start := time.Now()
	if err := tr.Shutdown(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("close handshake with an answering peer waited for the timeout")
	}
	_ = tr.Close()
}

func TestWebSocketLimitsAndText(t *testing.T) {
	url := wsServer(t, func(c *websocket.Conn) {
		defer c.CloseNow()
		_ = c.Write(context.Background(), websocket.MessageBinary, make([]byte, 100))
		_ = c.Write(context.Background(), websocket.MessageBinary, make([]byte, 101))
		_, _, _ = c.Read(context.Background())
	})
	tr, err := Dial(context.Background(), url, Options{MaxFrame: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if p, err := tr.ReadMessage(); err != nil || len(p) != 100 {
		t.Fatalf("%d %v", len(p), err)
	}
	if _, err := tr.ReadMessage(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}

	url = wsServer(t, func(c *websocket.Conn) {
		defer c.CloseNow()
		_ = c.Write(context.Background(), websocket.MessageText, []byte("{}"))
		_, _, _ = c.Read(context.Background())
	})
	tr2, err := Dial(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if _, err := tr2.ReadMessage(); err == nil || !strings.Contains(err.Error(), "text") {
		t.Fatalf("err = %v", err)
	}
}

func TestWebSocketShutdownBoundedWhenPeerIsSilent(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	url := wsServer(t, func(c *websocket.Conn) { <-hold }) // never reads, never answers
	tr, err := Dial(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = tr.Shutdown(100 * time.Millisecond)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
}

func FuzzTCPRead(f *testing.F) {
	f.Add(frames("a", "bb", ""), uint16(1), uint16(3))
	f.Add([]byte{255, 255, 255, 255}, uint16(2), uint16(0))
	f.Add(frames(strings.Repeat("q", 300)), uint16(100), uint16(200))
	f.Fuzz(func(t *testing.T, stream []byte, a, b uint16) {
		const max = 256
		got, err := readAll(t, stream, []int{int(a), int(b)}, max)
		// Reference: frame.Next over the whole stream at once.
		var want []string
		rest := stream
		var refErr error
		for {
			p, n, err := frame.Next(rest, max)
			if err != nil {
				refErr = err
				break
			}
			if n == 0 {
				break
			}
			want = append(want, string(p))
			rest = rest[n:]
		}
		if len(got) != len(want) {
			t.Fatalf("got %d messages, reference %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("message %d differs", i)
			}
		}
		if (refErr != nil) != errors.Is(err, ErrTooLarge) {
			t.Fatalf("err %v, reference %v", err, refErr)
		}
	})
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, p, err := c.Read(context.Background())
		if err == nil {
			_ = c.Write(context.Background(), typ, p)
		}
		_, _, _ = c.Read(context.Background())
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted dial below is refused noisily
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	opts := Options{TLS: &tls.Config{RootCAs: pool}}

	echo := func(t *testing.T, tr Transport) {
		t.Helper()
		defer tr.Close()
		if err := tr.WriteFrames(frames("secure")); err != nil {
			t.Fatal(err)
		}
		if p, err := tr.ReadMessage(); err != nil || string(p) != "secure" {
			t.Fatalf("%q %v", p, err)
		}
	}
	t.Run("wss", func(t *testing.T) {
		tr, err := Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https")+"/", opts)
		if err != nil {
			t.Fatal(err)
		}
		echo(t, tr)
		if _, err := Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https")+"/", Options{}); err == nil {
			t.Fatal("untrusted certificate accepted")
		}
	})
	t.Run("tls", func(t *testing.T) {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.TLS)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
			}
		}()
		tr, err := Dial(context.Background(), "tls://"+ln.Addr().String(), opts)
		if err != nil {
			t.Fatal(err)
		}
		echo(t, tr)
		tr2, err := Dial(context.Background(), "tls://"+ln.Addr().String(), Options{})
		if err == nil {
			// The handshake may complete lazily; the first exchange must fail.
			defer tr2.Close()
			if err := tr2.WriteFrames(frames("x")); err == nil {
				if _, err := tr2.ReadMessage(); err == nil {
					t.Fatal("untrusted certificate accepted")
				}
			}
		}
	})
}
