// Package testport hands tests loopback ports that stay free while a server
// using them is down, for tests that stop a server and start it again on
// the same address. Safe from any goroutine.
package testport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Addrs returns n distinct loopback addresses, free now. The ports lie
// below the kernel's ephemeral range, so no outgoing connection of a test
// running meanwhile is given one of them while its server is down; a port
// taken from ":0" can be, and the restart then fails with "address already
// in use".
func Addrs(t testing.TB, n int) []string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const first = 10000
	if low <= first+100 {
		t.Fatalf("ephemeral ports start at %d: no room below for fixed test ports", low)
	}
	seen := make(map[string]bool)
	var addrs []string
	for range 100 * n {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(first+rand.IntN(low-first)))
		if seen[addr] {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = ln.Close()
		seen[addr] = true
		addrs = append(addrs, addr)
		if len(addrs) == n {
			return addrs
		}
	}
	t.Fatalf("no %d free loopback ports in %d..%d", n, first, low-1)
	return nil
}
