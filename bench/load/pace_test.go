package load

import (
	"net"
	"runtime"
	"testing"
	"time"
)

func TestPacerPreciseOnlyForShortIntervals(t *testing.T) {
	for _, c := range []struct {
		interval float64
		precise  bool
	}{
		{0, false},
		{float64(time.Millisecond), false},
		{float64(preciseBelow), false},
		{3000, runtime.GOOS == "linux"},
	} {
		p := newPacer(c.interval)
		if got := p.restore != nil; got != c.precise {
			t.Errorf("interval %v ns: precise %v, want %v", c.interval, got, c.precise)
		}
		p.sleep(0)
		p.sleep(-time.Second)
		p.sleep(10 * time.Microsecond)
		p.close()
		p.close() // a second close does nothing
	}
}

// Idle clients towards a loopback server come from idleSources different
// addresses; towards any other address the dialer is left alone.
func TestIdleDialerSpreadsLoopbackSources(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < idleSources; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			seen[host] = true
			_ = c.Close()
		}
	}()
	for i := 0; i < idleSources; i++ {
		d := idleDialer(ln.Addr().String(), time.Second)
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		_ = c.Close()
	}
	<-done
	if len(seen) != idleSources {
		t.Fatalf("connections came from %d source addresses, want %d: %v", len(seen), idleSources, seen)
	}
	if d := idleDialer("192.0.2.1:80", 0); d.LocalAddr != nil || d.Timeout != 10*time.Second {
		t.Fatalf("non-loopback target: local address %v, timeout %v", d.LocalAddr, d.Timeout)
	}
}
