package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/config"
)

// EddyServer is an Eddy server started in this process on loopback ports.
type EddyServer struct {
	srv *engine.Server
}

// SpawnEddy starts an Eddy server on 127.0.0.1 free ports (TCP and
// WebSocket; HTTP off). mutate may adjust the options first; logs at warn
// and above go to logw (nil: discarded).
func SpawnEddy(mutate func(*engine.Options), logw io.Writer) (*EddyServer, error) {
	var opts engine.Options
	opts.Net.TCPAddr = "127.0.0.1:0"
	opts.Net.WSAddr = "127.0.0.1:0"
	opts.HTTP.Addr = engine.Off
	// Keep records in memory when the server has a record store: a bench
	// run must not leave data files behind. (An older engine without the
	// setting just reports it unknown, which is fine.)
	_ = config.Set(&opts, "store.engine", "memory")
	if mutate != nil {
		mutate(&opts)
	}
	if logw == nil {
		logw = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := engine.New(opts, log)
	if err != nil {
		return nil, fmt.Errorf("load: eddy: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("load: eddy: %w", err)
	}
	return &EddyServer{srv: srv}, nil
}

// Target returns a target for the server's listener of transport.
func (s *EddyServer) Target(transport string) (*EddyTarget, error) {
	switch transport {
	case "tcp", "":
		return &EddyTarget{Addr: s.srv.TCPAddr(), Trans: "tcp", InProcess: true}, nil
	case "ws":
		return &EddyTarget{Addr: s.srv.WSAddr(), Trans: "ws", InProcess: true}, nil
	}
	return nil, fmt.Errorf("load: transport %q: want tcp or ws", transport)
}

// Server exposes the engine (tests look at its tables).
func (s *EddyServer) Server() *engine.Server { return s.srv }

// Close shuts the server down.
func (s *EddyServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// ErrNoNATS is returned by SpawnNATS when no nats-server binary is found.
var ErrNoNATS = errors.New("load: nats-server not found: run scripts/deps.sh (builds it into bin/) or set NATS_SERVER")

// natsPaths are tried after $PATH: Debian installs the binary in /usr/sbin,
// which is not on an ordinary user's PATH.
var natsPaths = []string{"/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/local/sbin/nats-server"}

// FindNATS returns the path of the nats-server binary, or ErrNoNATS: the
// NATS_SERVER environment variable, else bin/nats-server of the module
// this runs in (scripts/deps.sh builds the release go.mod pins there),
// else $PATH and the usual system places.
func FindNATS() (string, error) {
	if p := os.Getenv("NATS_SERVER"); p != "" {
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				if p := filepath.Join(dir, "bin", "nats-server"); isExec(p) {
					return p, nil
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	for _, p := range natsPaths {
		if isExec(p) {
			return p, nil
		}
	}
	return "", ErrNoNATS
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// process is a server subprocess listening on loopback.
type process struct {
	cmd  *exec.Cmd
	done chan error
}

// startProcess runs bin with args and waits until addr accepts connections.
func startProcess(bin string, args []string, addr string, logw io.Writer) (*process, error) {
	cmd := exec.Command(bin, args...)
	if logw != nil {
		cmd.Stdout, cmd.Stderr = logw, logw
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load: start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return p, nil
		}
		select {
		case werr := <-p.done:
			return nil, fmt.Errorf("load: %s exited at start: %v", bin, werr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.close()
			return nil, fmt.Errorf("load: %s did not listen on %s within 10s", bin, addr)
		}
	}
}

// close stops the subprocess (SIGKILL after it ignores SIGTERM for 5s).
func (p *process) close() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// NATSServer is a nats-server subprocess on loopback ports: its client
// port and a WebSocket port (no TLS) for the connections scenario.
type NATSServer struct {
	p      *process
	url    string
	wsAddr string
	dir    string // holds the configuration file
}

// SpawnNATS starts nats-server on free 127.0.0.1 ports and waits until it
// accepts connections. Its output goes to logw (nil: discarded).
func SpawnNATS(logw io.Writer) (*NATSServer, error) {
	bin, err := FindNATS()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	wsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	wsAddr := "127.0.0.1:" + strconv.Itoa(wsPort)
	// WebSocket can only be configured in a file.
	dir, err := os.MkdirTemp("", "eddy-bench-nats-")
	if err != nil {
		return nil, fmt.Errorf("load: nats config: %w", err)
	}
	conf := filepath.Join(dir, "nats.conf")
	text := fmt.Sprintf("listen: %q\nwebsocket {\n  listen: %q\n  no_tls: true\n}\n", addr, wsAddr)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("load: nats config: %w", err)
	}
	p, err := startProcess(bin, []string{"-c", conf}, addr, logw)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &NATSServer{p: p, url: "nats://" + addr, wsAddr: wsAddr, dir: dir}, nil
}

// URL is the server's client URL.
func (s *NATSServer) URL() string { return s.url }

// Target returns a target for the server.
func (s *NATSServer) Target() *NATSTarget {
	return &NATSTarget{URL: s.url, WSAddr: s.wsAddr, PID: s.p.cmd.Process.Pid}
}

// Close stops the subprocess.
func (s *NATSServer) Close() error {
	err := s.p.close()
	_ = os.RemoveAll(s.dir)
	return err
}

// EddyProcess is an eddy binary (cmd/eddy) run as a subprocess on loopback
// ports with records in memory and HTTP off: the same footing as a
// nats-server baseline, with no runtime shared with the load generator.
type EddyProcess struct {
	p           *process
	tcpAddr, ws string
}

// SpawnEddyProcess starts `bin start` on free 127.0.0.1 ports and waits
// until it accepts connections. Its output goes to logw (nil: discarded).
// sets are extra "path=value" settings (`eddy start -set`), applied after
// the defaults here (store.engine=memory), so they can override them.
func SpawnEddyProcess(bin string, logw io.Writer, sets ...string) (*EddyProcess, error) {
	tcpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	wsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	tcpAddr, wsAddr := "127.0.0.1:"+strconv.Itoa(tcpPort), "127.0.0.1:"+strconv.Itoa(wsPort)
	args := []string{"start", "-tcp-addr", tcpAddr, "-ws-addr", wsAddr, "-http-addr", engine.Off,
		"-set", "store.engine=memory", "-log-level", "warn"}
	for _, kv := range sets {
		args = append(args, "-set", kv)
	}
	p, err := startProcess(bin, args, tcpAddr, logw)
	if err != nil {
		return nil, err
	}
	return &EddyProcess{p: p, tcpAddr: tcpAddr, ws: wsAddr}, nil
}

// Target returns a target for the listener of transport.
func (s *EddyProcess) Target(transport string) (*EddyTarget, error) {
	switch transport {
	case "tcp", "":
		return &EddyTarget{Addr: s.tcpAddr, Trans: "tcp", PID: s.p.cmd.Process.Pid}, nil
	case "ws":
		return &EddyTarget{Addr: s.ws, Trans: "ws", PID: s.p.cmd.Process.Pid}, nil
	}
	return nil, fmt.Errorf("load: transport %q: want tcp or ws", transport)
}

// Close stops the subprocess.
func (s *EddyProcess) Close() error { return s.p.close() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("load: free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}
