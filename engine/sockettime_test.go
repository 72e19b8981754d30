package engine_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
)

// metricValue reads one unlabelled gauge or counter of srv (0 when absent).
func metricValue(t *testing.T, srv *engine.Server, name string) float64 {
	t.Helper()
	fams, err := srv.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name || len(f.GetMetric()) == 0 {
			continue
		}
		m := f.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

func waitMetric(t *testing.T, srv *engine.Server, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(metricValue(t, srv, name)) {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v", name, metricValue(t, srv, name))
		}
		time.Sleep(time.Millisecond)
	}
}

// readAllWithin reads c until the server closes it, failing the test if
// that takes longer than d, and returns what came.
func readAllWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if err != nil && !isConnReset(err) {
		t.Fatalf("the server did not close the socket within %v: %v (read %q)", d, err, b)
	}
	return string(b)
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// Every socket is counted from accept and bounded in time: a WebSocket that
// never completes its upgrade, an HTTP request whose body never ends, and
// an idle HTTP keep-alive connection.
func TestSocketsBoundedInTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, func(o *engine.Options) {
			o.Session.HandshakeTimeout = 300 * time.Millisecond
			o.HTTP.Timeout = 300 * time.Millisecond
		}))
		base := metricValue(t, srv, "eddy_sockets")

		t.Run("partial WebSocket upgrades", func(t *testing.T) {
			var socks []net.Conn
			for range 20 {
				c, err := net.Dial("tcp", srv.WSAddr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
					t.Fatal(err)
				}
				socks = append(socks, c)
			}
			waitMetric(t, srv, "eddy_sockets", func(v float64) bool { return v >= base+20 })
			for _, c := range socks {
				if got := readAllWithin(t, c, 10*time.Second); !strings.HasPrefix(got, "HTTP/1.1 408") {
					t.Fatalf("partial upgrade answered %q, want a 408", got)
				}
			}
			waitMetric(t, srv, "eddy_sockets", func(v float64) bool { return v <= base })
			if n := metricValue(t, srv, "eddy_ws_upgrade_timeouts_total"); n < 20 {
				t.Fatalf("eddy_ws_upgrade_timeouts_total = %v", n)
			}
		})

		t.Run("slow HTTP bodies", func(t *testing.T) {
			var socks []net.Conn
			for range 20 {
				c, err := net.Dial("tcp", srv.HTTPAddr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write([]byte("POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"messages\":[")); err != nil {
					t.Fatal(err)
				}
				socks = append(socks, c)
			}
			waitMetric(t, srv, "eddy_sockets", func(v float64) bool { return v >= base+20 })
			for _, c := range socks {
				readAllWithin(t, c, 10*time.Second)
			}
			waitMetric(t, srv, "eddy_sockets", func(v float64) bool { return v <= base })
		})

		t.Run("idle HTTP keep-alive", func(t *testing.T) {
			c, err := net.Dial("tcp", srv.HTTPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			if status, _ := r.ReadString('\n'); !strings.HasPrefix(status, "HTTP/1.1 200") {
				t.Fatalf("health: %q", status)
			}
			// The response is read; the connection then idles until the
			// server closes it (six times http.timeout).
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadAll(r); err != nil && !isConnReset(err) {
				t.Fatalf("idle keep-alive not closed: %v", err)
			}
		})
	})
}
