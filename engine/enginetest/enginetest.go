// Package enginetest starts a full Eddy server on 127.0.0.1 free ports and
// talks to it with raw frames, so tests can check the wire behaviour
// byte for byte without any SDK in between.
//
// A Client belongs to one test goroutine.
package enginetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/internal/testport"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Backends lists every network back-end, for tests that run over each.
func Backends() []string { return engine.Backends() }

// Start runs a server on free loopback ports; mutate may adjust options.
// The network back-end is the EDDY_TEST_BACKEND environment variable when
// set (default: the server's default), unless mutate sets o.Net.Backend.
// The server is shut down when the test ends.
func Start(t testing.TB, mutate func(*engine.Options)) *engine.Server {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("EDDY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return StartWithLogger(t, mutate, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
}

// StartWithLogger is Start with the server logging to log.
func StartWithLogger(t testing.TB, mutate func(*engine.Options), log *slog.Logger) *engine.Server {
	t.Helper()
	var opts engine.Options
	opts.Net.WSAddr = "127.0.0.1:0"
	opts.Net.TCPAddr = "127.0.0.1:0"
	opts.HTTP.Addr = "127.0.0.1:0"
	opts.Net.Loops = 2
	opts.Net.Backend = os.Getenv("EDDY_TEST_BACKEND")
	opts.Store.Engine = "memory"
	if mutate != nil {
		mutate(&opts)
	}
	srv, err := engine.New(opts, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// RestartAddrs returns two loopback addresses, free now, for a server that
// a test shuts down and starts again on the same ports (tcp for
// o.Net.TCPAddr, ws for o.Net.WSAddr). The ports lie below the kernel's
// ephemeral range, so no outgoing connection of a test running meanwhile
// is given one of them while the server is down; a port taken from ":0"
// can be, and the restart then fails with "address already in use".
func RestartAddrs(t testing.TB) (tcp, ws string) {
	t.Helper()
	a := testport.Addrs(t, 2)
	return a[0], a[1]
}

// Client is a raw protocol client over TCP or WebSocket.
type Client struct {
	t      testing.TB
	conn   net.Conn
	ws     bool
	parser ws.Parser
	buf    []byte
	view   msg.View
	// Timeout bounds every Expect. Default 5s.
	Timeout time.Duration
}

// DialTCP connects to the raw TCP listener.
func DialTCP(t testing.TB, addr string) *Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{t: t, conn: conn, Timeout: 5 * time.Second}
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

// DialTLS connects to a raw TCP listener that speaks TLS (net.tls set).
func DialTLS(t testing.TB, addr string, cfg *tls.Config) *Client {
	t.Helper()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{t: t, conn: conn, Timeout: 5 * time.Second}
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

// TLSFiles writes a fresh self-signed certificate for 127.0.0.1 and
// localhost and its key as PEM files in a temporary directory, for
// net.tls.cert and net.tls.key; roots trusts the certificate.
func TLSFiles(t testing.TB) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "eddy test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// DialWS connects to the WebSocket listener and completes the upgrade.
func DialWS(t testing.TB, addr string, deflate bool) *Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	key := ws.NewKey()
	if _, err := conn.Write(ws.AppendRequest(nil, addr, "/", key, deflate, nil)); err != nil {
		t.Fatal(err)
	}
	c := &Client{t: t, conn: conn, ws: true, Timeout: 5 * time.Second}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		negotiated, n, err := ws.ParseResponse(c.buf, key)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			c.buf = c.buf[n:]
			c.parser = ws.Parser{MaxMessage: 64 << 20, Client: true, Deflate: negotiated}
			return c
		}
		if err := c.fill(); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *Client) fill() error {
	var tmp [64 << 10]byte
	n, err := c.conn.Read(tmp[:])
	c.buf = append(c.buf, tmp[:n]...)
	if n > 0 {
		return nil
	}
	return err
}

// Conn exposes the socket (for raw writes in malformed-input tests).
func (c *Client) Conn() net.Conn { return c.conn }

// SendRaw sends one payload framed for the transport.
func (c *Client) SendRaw(payload []byte) {
	c.t.Helper()
	if err := c.TrySendRaw(payload); err != nil {
		c.t.Fatal(err)
	}
}

// TrySendRaw is SendRaw returning the write's error instead of failing
// the test: for goroutines that answer a server until the connection is
// closed (possibly by the test's cleanup).
func (c *Client) TrySendRaw(payload []byte) error {
	var out []byte
	if c.ws {
		mask := [4]byte{1, 2, 3, 4}
		out = ws.AppendFrame(nil, ws.OpBinary, payload, false, &mask)
	} else {
		out = frame.Append(nil, payload)
	}
	_, err := c.conn.Write(out)
	return err
}

// TrySend encodes and sends m, returning the write's error.
func (c *Client) TrySend(m *msg.Msg) error { return c.TrySendRaw(msg.Append(nil, m)) }

// Send encodes and sends m.
func (c *Client) Send(m *msg.Msg) { c.t.Helper(); c.SendRaw(msg.Append(nil, m)) }

// Next returns the next message (the View is valid until the next call),
// or an error when the connection ends or the timeout passes.
func (c *Client) Next() (*msg.View, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	for {
		var payload []byte
		if c.ws {
			f, n, err := c.parser.Next(c.buf)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				c.buf = c.buf[n:]
				switch f.Op {
				case ws.OpClose:
					return nil, &WSClosed{Code: f.CloseCode, Reason: f.CloseReason}
				case ws.OpBinary:
					payload = append([]byte(nil), f.Payload...)
				default:
					continue
				}
			}
		} else {
			p, n, err := frame.Next(c.buf, 64<<20)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				payload = append([]byte(nil), p...)
				c.buf = c.buf[n:]
			}
		}
		if payload != nil {
			if err := c.view.Reset(payload); err != nil {
				return nil, err
			}
			return &c.view, nil
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// WSClosed is returned by Next when the server sent a WebSocket close frame.
type WSClosed struct {
	Code   uint16
	Reason string
}

func (e *WSClosed) Error() string { return "websocket closed: " + e.Reason }

// Expect returns the next message that is not a Ping and fails the test
// unless it has topic and action.
func (c *Client) Expect(topic fb.Topic, action fb.Action) *msg.View {
	c.t.Helper()
	for {
		v, err := c.Next()
		if err != nil {
			c.t.Fatalf("waiting for %s/%s: %v", fb.EnumNamesTopic[topic], fb.EnumNamesAction[action], err)
		}
		if v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPing {
			continue
		}
		if v.Topic() != topic || v.Action() != action {
			c.t.Fatalf("want %s/%s, got %s/%s code=%d reason=%q", fb.EnumNamesTopic[topic], fb.EnumNamesAction[action],
				fb.EnumNamesTopic[v.Topic()], fb.EnumNamesAction[v.Action()], v.Code(), v.Reason())
		}
		return v
	}
}

// ExpectClose reads until the server closes, and returns the code of the
// Eddy Close message seen (0 when none came).
func (c *Client) ExpectClose() protocol.Code {
	c.t.Helper()
	var code protocol.Code
	for {
		v, err := c.Next()
		if err != nil {
			var wc *WSClosed
			if errors.As(err, &wc) || errors.Is(err, io.EOF) || isReset(err) {
				return code
			}
			c.t.Fatalf("waiting for close: %v", err)
		}
		if v.Topic() == fb.TopicConnection && v.Action() == fb.ActionClose {
			code = protocol.Code(v.Code())
		}
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// Handshake performs the protocol handshake.
func (c *Client) Handshake() {
	c.t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
	c.Expect(fb.TopicConnection, fb.ActionHandshakeAck)
}

// Login logs in with auth data (JSON) and fails the test if refused.
func (c *Client) Login(data string) *msg.View {
	c.t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1, Data: []byte(data)})
	v := c.Expect(fb.TopicAuth, fb.ActionLoginResult)
	if v.Code() != 0 {
		c.t.Fatalf("login refused: %d %s", v.Code(), v.Reason())
	}
	return v
}

// Open does Handshake then an anonymous Login.
func (c *Client) Open() *Client { c.t.Helper(); c.Handshake(); c.Login(""); return c }
