package eddy_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/eddy-realtime/eddy/engine/enginetest"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// TestDialAddresses dials the real server with each address form, and
// addresses that do not speak Eddy, which must fail in time with an error
// a person can read.
func TestDialAddresses(t *testing.T) {
	srv := enginetest.Start(t, nil)
	readable := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("Dial succeeded")
		}
		if !errors.Is(err, eddy.ErrNotEddy) {
			t.Errorf("%v: does not match ErrNotEddy", err)
		}
		msg := err.Error()
		for _, r := range msg {
			if !unicode.IsPrint(r) {
				t.Fatalf("error holds unprintable %q: %q", r, msg)
			}
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("error %q does not say %q", msg, w)
			}
		}
	}

	t.Run("bare host:port is TCP", func(t *testing.T) {
		c := dial(t, srv.TCPAddr())
		if err := c.Event.EmitAck(ctxFor(t, 5*time.Second), "bare", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("tcp at the WebSocket port", func(t *testing.T) {
		start := time.Now()
		_, err := eddy.Dial(context.Background(), "tcp://"+srv.WSAddr(), eddy.WithDialTimeout(300*time.Millisecond))
		readable(t, err, "tcp://"+srv.WSAddr(), "did not answer the Eddy handshake within")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v: does not match DeadlineExceeded", err)
		}
		// The dial timeout bounds the attempt; the margin is for a loaded machine.
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Dial took %v with a 300ms dial timeout", d)
		}
	})

	t.Run("tcp at a port that answers HTTP", func(t *testing.T) {
		addr := serveOnce(t, func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		})
		_, err := eddy.Dial(ctxFor(t, 10*time.Second), "tcp://"+addr)
		readable(t, err, "answered with HTTP", "ws://"+addr+"/")
	})

	t.Run("tcp at a port that sends something else", func(t *testing.T) {
		addr := serveOnce(t, func(c net.Conn) { _, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")) })
		_, err := eddy.Dial(ctxFor(t, 10*time.Second), "tcp://"+addr)
		readable(t, err, "did not answer the Eddy handshake")
	})

	t.Run("ws at the TCP port", func(t *testing.T) {
		_, err := eddy.Dial(ctxFor(t, 10*time.Second), "ws://"+srv.TCPAddr()+"/")
		readable(t, err, "did not answer with HTTP", "tcp://"+srv.TCPAddr())
	})

	t.Run("ws at a silent port", func(t *testing.T) {
		addr := serveOnce(t, func(net.Conn) {})
		_, err := eddy.Dial(context.Background(), "ws://"+addr+"/", eddy.WithDialTimeout(300*time.Millisecond))
		readable(t, err, "did not answer the WebSocket upgrade within")
	})
}

// serveOnce listens on a free loopback port and runs fn on each accepted
// connection, keeping it open until the test ends.
func serveOnce(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c)
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}
