package load

import (
	"net"
	"sync/atomic"
	"time"
)

// idleSources is how many loopback source addresses the connections
// scenario spreads its clients over (127.0.0.1 to 127.0.0.16).
const idleSources = 16

var idleSource atomic.Uint32

// idleDialer returns the dialer of one idle client of the connections
// scenario. Towards a loopback IPv4 address each client takes the next of
// idleSources source addresses, bound without a port
// (IP_BIND_ADDRESS_NO_PORT where the platform has it) so the port is still
// picked at connect time, per destination.
//
// Why: Linux hands connect(2) the even half of the ephemeral range first
// (14,116 ports with the default 32768–60999) and, once those are taken
// towards one address and port, scans all of them on every further
// connect before trying the odd half. From one source address the rate fell
// from 12.6k connects/s at 10,000 connections to 6.6k/s at 19,000 (p99
// 28 ms → 92 ms) with the server mostly idle. Real clients come from many
// addresses; the baseline dials the same way.
func idleDialer(target string, timeout time.Duration) *net.Dialer {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// No TCP keep-alive: an idle client of a few seconds does not need it,
	// and setting it is four setsockopt(2) calls per connect.
	d := &net.Dialer{Timeout: timeout, KeepAlive: -1}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return d
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return d
	}
	k := idleSource.Add(1) % idleSources
	d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+k))}
	d.Control = bindNoPort
	return d
}
