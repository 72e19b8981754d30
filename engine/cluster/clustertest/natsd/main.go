// Command natsd runs one embedded NATS server, so tests (and a local
// cluster on one machine) can run NATS as a process of its own without
// installing nats-server. It is a test tool, not a supported deployment.
//
//	natsd -port 4222 -cluster-port 6222 -routes nats://127.0.0.1:6223 -name n0 -store /tmp/js0
//
// Once the server accepts clients (and, with -routes, has a route to
// every peer or -route-wait passed) natsd prints one line
//
//	natsd ready nats://127.0.0.1:4222
//
// on stdout; -port 0 picks a free port, shown in that line. SIGINT or
// SIGTERM shut it down.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 4222, "client port (0: a free one)")
	clusterPort := flag.Int("cluster-port", 0, "route port for a NATS cluster (0: no cluster)")
	clusterName := flag.String("cluster-name", "eddytest", "NATS cluster name")
	routes := flag.String("routes", "", "comma-separated route URLs of the other servers (nats://host:clusterport)")
	name := flag.String("name", "", "server name (default: generated)")
	store := flag.String("store", "", "JetStream store directory (empty: JetStream off)")
	routeWait := flag.Duration("route-wait", 30*time.Second, "how long to wait for routes to every peer before reporting ready anyway")
	logs := flag.Bool("log", false, "log to stderr")
	flag.Parse()

	o := &server.Options{
		ServerName: *name,
		Host:       *host,
		Port:       *port,
		NoLog:      !*logs,
		NoSigs:     true,
		// A dead peer or client is noticed within seconds.
		PingInterval: time.Second,
		MaxPingsOut:  2,
	}
	if *port == 0 {
		o.Port = server.RANDOM_PORT
	}
	if *store != "" {
		o.JetStream, o.StoreDir = true, *store
	}
	var peers int
	if *clusterPort != 0 {
		o.Cluster = server.ClusterOpts{Name: *clusterName, Host: *host, Port: *clusterPort}
		for _, r := range strings.Split(*routes, ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			u, err := url.Parse(r)
			if err != nil {
				fatal("route %q: %v", r, err)
			}
			o.Routes = append(o.Routes, u)
			if u.Port() != fmt.Sprint(*clusterPort) {
				peers++
			}
		}
	}
	s, err := server.NewServer(o)
	if err != nil {
		fatal("%v", err)
	}
	if *logs {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		fatal("not ready for connections in 30s")
	}
	deadline := time.Now().Add(*routeWait)
	for s.NumRoutes() < peers && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(os.Stdout, "natsd ready %s\n", s.ClientURL()) // the line tests wait for

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		s.Shutdown()
	}()
	s.WaitForShutdown()
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "natsd: "+format+"\n", args...)
	os.Exit(1)
}
