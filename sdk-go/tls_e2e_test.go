package eddy_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// TestTLSEndToEnd runs the SDK over tls:// and wss:// against a server
// with net.tls set, and checks that a client which does not trust the
// server's certificate is refused.
func TestTLSEndToEnd(t *testing.T) {
	cert, key, roots := enginetest.TLSFiles(t)
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.Net.Backend = "stdnet"
		o.Net.TLS = engine.TLSOptions{Cert: cert, Key: key}
	})
	cfg := &tls.Config{RootCAs: roots}
	dialTLS := func(addr string, opts ...eddy.Option) (*eddy.Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := eddy.Dial(ctx, addr, opts...)
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
		return c, err
	}
	addrs := map[string]string{
		"tls": "tls://" + srv.TCPAddr(),
		"wss": "wss://" + srv.WSAddr() + "/",
	}
	clients := map[string]*eddy.Client{}
	got := map[string]chan string{}
	for name, addr := range addrs {
		c, err := dialTLS(addr, eddy.WithTLSConfig(cfg))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ch := make(chan string, 16)
		if _, err := c.Event.Subscribe("secure/news", func(data []byte) { ch <- string(data) }); err != nil {
			t.Fatalf("%s: subscribe: %v", name, err)
		}
		clients[name], got[name] = c, ch
	}
	big := `"` + strings.Repeat("x", 50000) + `"` // spans several TLS records
	for from, to := range map[string]string{"tls": "wss", "wss": "tls"} {
		if err := clients[from].Event.Emit("secure/news", []byte(big)); err != nil {
			t.Fatalf("%s: emit: %v", from, err)
		}
		select {
		case data := <-got[to]:
			if data != big {
				t.Fatalf("%s -> %s: got %d bytes", from, to, len(data))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s -> %s: no event", from, to)
		}
	}

	// Without the test root the certificate is not trusted.
	for name, addr := range addrs {
		_, err := dialTLS(addr, eddy.WithTLSConfig(&tls.Config{}), eddy.WithoutReconnect())
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("%s: dial with an untrusted certificate: %v", name, err)
		}
	}
}
