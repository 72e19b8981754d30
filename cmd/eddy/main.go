// Command eddy runs the Eddy realtime server.
//
//	eddy start [-c config.yml] [flags]   serve (embedded defaults without -c)
//	eddy hash [password]                 hash a password for the users file
//	eddy version                         print the release
//	eddy help                            this text
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/auth"
	"github.com/eddy-realtime/eddy/engine/config"
)

const usage = `Eddy: a realtime data server (records, events, RPC, presence).

Usage:
  eddy start [flags]     start the server (no config file needed)
  eddy hash [password]   print an argon2id hash for a users file (reads stdin without an argument)
  eddy version           print the release
  eddy help              show this help

Every setting can also be set with an environment variable named EDDY_ plus
its YAML path in upper snake case (net.tcpAddr -> EDDY_NET_TCP_ADDR).
Run "eddy start --print-config" to see every setting and its value.

Flags of start:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "help"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "start":
		return start(args, stdout, stderr)
	case "hash":
		return hash(args, os.Stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "eddy", engine.Release)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		startFlags(new(startArgs), stdout).PrintDefaults()
		return 0
	}
	fmt.Fprintf(stderr, "eddy: unknown command %q (try eddy help)\n", cmd)
	return 2
}

type startArgs struct {
	config, wsAddr, tcpAddr, httpAddr, logLevel string
	printConfig                                 bool
	sets                                        multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func startFlags(a *startArgs, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("eddy start", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&a.config, "c", "", "YAML config `file` (default: embedded defaults)")
	fs.StringVar(&a.wsAddr, "ws-addr", "", "WebSocket listen `address` (net.wsAddr, default :6020; \"off\" disables)")
	fs.StringVar(&a.tcpAddr, "tcp-addr", "", "raw TCP listen `address` (net.tcpAddr, default :6021; \"off\" disables)")
	fs.StringVar(&a.httpAddr, "http-addr", "", "HTTP listen `address` for the API, /sse, /health and /metrics (http.addr, default :8080; \"off\" disables)")
	fs.StringVar(&a.logLevel, "log-level", "", "log `level`: debug, info, warn, error (log.level, default info)")
	fs.BoolVar(&a.printConfig, "print-config", false, "print the effective configuration as YAML and exit")
	fs.Var(&a.sets, "set", "override any setting, `path=value` (repeatable), e.g. -set session.heartbeat=5s")
	return fs
}

func start(args []string, stdout, stderr io.Writer) int {
	var a startArgs
	fs := startFlags(&a, stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts, err := config.Load(a.config, os.Environ())
	if err == nil {
		err = applyFlags(&opts, &a)
	}
	if err != nil {
		fmt.Fprintln(stderr, "eddy:", err)
		return 1
	}
	if a.printConfig {
		fmt.Fprint(stdout, config.String(opts))
		return 0
	}
	log := newLogger(opts.Log, stderr)
	srv, err := engine.New(opts, log)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	got := <-sig
	log.Info("shutting down", "signal", got.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func applyFlags(opts *engine.Options, a *startArgs) error {
	for path, v := range map[string]string{"net.wsAddr": a.wsAddr, "net.tcpAddr": a.tcpAddr, "http.addr": a.httpAddr, "log.level": a.logLevel} {
		if v != "" {
			if err := config.Set(opts, path, v); err != nil {
				return err
			}
		}
	}
	for _, kv := range a.sets {
		path, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-set %q: want path=value", kv)
		}
		if err := config.Set(opts, path, v); err != nil {
			return err
		}
	}
	opts.EnsureDefaults()
	return opts.Validate()
}

func newLogger(o engine.LogOptions, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.Level))
	h := &slog.HandlerOptions{Level: level}
	if o.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, h))
	}
	return slog.New(slog.NewTextHandler(w, h))
}

// hash prints the argon2id hash of a password given as the argument or as
// the first line of stdin (so it stays out of shell history).
func hash(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var password string
	switch len(args) {
	case 0:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(stderr, "eddy hash: no password given")
			return 2
		}
		password = strings.TrimRight(line, "\r\n")
	case 1:
		password = args[0]
	default:
		fmt.Fprintln(stderr, "usage: eddy hash [password]")
		return 2
	}
	h, err := auth.HashPassword(password)
	if err != nil {
		fmt.Fprintln(stderr, "eddy hash:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}
