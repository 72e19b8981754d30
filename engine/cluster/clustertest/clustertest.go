// Package clustertest runs what cluster tests need inside the test binary:
// a NATS cluster of one or more servers on loopback, with JetStream, that a
// test can kill and restart, and a TCP proxy it can cut to partition one
// node from NATS without root.
package clustertest

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	eddycluster "github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/internal/testport"
)

// NATS is a cluster of in-process NATS servers joined by routes.
type NATS struct {
	t       testing.TB
	mu      sync.Mutex
	opts    []*server.Options
	servers []*server.Server
}

// StartNATS starts n NATS servers (n ≥ 1) forming one cluster with
// JetStream, and stops them when the test ends.
func StartNATS(t testing.TB, n int) *NATS {
	t.Helper()
	ports := testport.Addrs(t, 2*n)
	c := &NATS{t: t}
	var routes []*url.URL
	if n > 1 {
		for i := 0; i < n; i++ {
			routes = append(routes, &url.URL{Scheme: "nats", Host: ports[n+i]})
		}
	}
	for i := 0; i < n; i++ {
		host, port := splitPort(t, ports[i])
		o := &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i),
			Host:       host,
			Port:       port,
			NoLog:      true,
			NoSigs:     true,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			// Tests count on a dead server being noticed fast.
			PingInterval: time.Second,
			MaxPingsOut:  2,
		}
		if n > 1 {
			chost, cport := splitPort(t, ports[n+i])
			o.Cluster = server.ClusterOpts{Name: "eddytest", Host: chost, Port: cport}
			o.Routes = routes
		}
		c.opts = append(c.opts, o)
		c.servers = append(c.servers, nil)
	}
	for i := range c.opts {
		c.start(i)
	}
	for i := range c.servers {
		c.waitReady(i)
	}
	t.Cleanup(c.Shutdown)
	return c
}

func splitPort(t testing.TB, addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(p, &port)
	return host, port
}

func (c *NATS) start(i int) {
	c.t.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("nats server %d: %v", i, err)
	}
	go s.Start()
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

func (c *NATS) waitReady(i int) {
	c.t.Helper()
	c.mu.Lock()
	s := c.servers[i]
	c.mu.Unlock()
	if !s.ReadyForConnections(30 * time.Second) {
		c.t.Fatalf("nats server %d not ready", i)
	}
	if len(c.opts) > 1 {
		deadline := time.Now().Add(30 * time.Second)
		for s.NumRoutes() < len(c.opts)-1 {
			if time.Now().After(deadline) {
				c.t.Fatalf("nats server %d: %d routes, want %d", i, s.NumRoutes(), len(c.opts)-1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// URL returns server i's client URL.
func (c *NATS) URL(i int) string {
	return fmt.Sprintf("nats://%s:%d", c.opts[i].Host, c.opts[i].Port)
}

// URLs returns every server's client URL, comma-separated.
func (c *NATS) URLs() string {
	urls := make([]string, len(c.opts))
	for i := range c.opts {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}

// Len returns the number of servers, killed ones included.
func (c *NATS) Len() int { return len(c.opts) }

// Server returns server i (nil while killed).
func (c *NATS) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// Kill stops server i at once.
func (c *NATS) Kill(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts server i again on the same ports and store.
func (c *NATS) Restart(i int) {
	c.t.Helper()
	c.start(i)
	c.waitReady(i)
}

// Shutdown stops every server.
func (c *NATS) Shutdown() {
	for i := range c.servers {
		c.Kill(i)
	}
}

// ClientSubscriptions returns the number of subscriptions that clients
// connected to server i hold on subjects starting with prefix.
// A killed server holds none.
func (c *NATS) ClientSubscriptions(i int, prefix string) int {
	s := c.Server(i)
	if s == nil {
		return 0
	}
	cz, err := s.Connz(&server.ConnzOptions{Subscriptions: true, Limit: 1 << 16})
	if err != nil {
		c.t.Fatal(err)
	}
	n := 0
	for _, ci := range cz.Conns {
		for _, sub := range ci.Subs {
			if strings.HasPrefix(sub, prefix) {
				n++
			}
		}
	}
	return n
}

// Interest returns how many subscriptions server i knows for subject,
// its own clients' and those its routes told it of.
func (c *NATS) Interest(i int, subject string) int {
	s := c.Server(i)
	if s == nil {
		return 0
	}
	return s.GlobalAccount().Interest(subject)
}

// EventInterest reports whether nodes Eddy nodes of cluster name follow
// the event name on NATS and server natsServer (where a publisher is)
// knows of every one of them, so an emit there reaches all. A server
// holds its own clients' subscriptions and one per other server with
// interest: routes carry interest, not counts.
func (c *NATS) EventInterest(natsServer int, cluster, name string, nodes int) bool {
	subj := cluster + ".ev." + eddycluster.EncodeName(name)
	total, want := 0, 0
	for i := 0; i < c.Len(); i++ {
		n := c.ClientSubscriptions(i, subj)
		total += n
		switch {
		case i == natsServer:
			want += n
		case n > 0:
			want++
		}
	}
	return total == nodes && c.Interest(natsServer, subj) == want
}

// Proxy is a TCP proxy in front of one address that a test can cut (every
// connection through it closed, new ones refused) and restore.
type Proxy struct {
	t      testing.TB
	target string
	ln     net.Listener
	addr   string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartProxy listens on a loopback port and forwards to target.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: target, ln: ln, addr: ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's address as a NATS URL.
func (p *Proxy) URL() string { return "nats://" + p.addr }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
