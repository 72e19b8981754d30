// Command eddy-bench runs Eddy's standard load scenarios and prints one
// JSON line per run (plus medians and a baseline comparison).
//
//	eddy-bench events-fanout -spawn [-pubs 1 -subs 10 -size 128 -duration 5s]
//	           [-transport tcp|ws] [-rate 0] [-baseline nats] [-runs 3]
//	eddy-bench events-fanout -addr tcp://127.0.0.1:6021
//	eddy-bench events-fanout -spawn-exec ./eddy -baseline nats
//	eddy-bench records-fanout -spawn-exec ./eddy [-writers 10 -subs 100]
//	eddy-bench rpc -spawn-exec ./eddy [-requesters 100 -providers 10 -window 1600]
//	eddy-bench durable-writes -spawn-exec ./eddy [-writers 64 -window 1024 -records 1]
//	eddy-bench connections -spawn-exec ./eddy [-conns 20000 -dial-concurrency 64]
//	eddy-bench cluster-events-fanout -spawn [-subs 30 -runs 3]   3 NATS servers, 3 Eddy nodes, then NATS alone
//	eddy-bench list                      the scenario names
//
// Each scenario has its own defaults (load.Defaults). It exits 1 when a
// run finds problems (no deliveries, losses, reordering, errors) and 2 on
// bad usage. All logic lives in bench/load.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/eddy-realtime/eddy/bench/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || args[0] == "help" {
		usage(stderr)
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	if args[0] == "list" {
		for _, s := range load.Scenarios() {
			fmt.Fprintln(stdout, s)
		}
		return 0
	}
	cfg := load.Config{Scenario: args[0], Out: stdout, Log: stderr}
	cfg.Params, cfg.Transport = load.Defaults(args[0])
	fs := flags(&cfg, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "eddy-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := load.Run(ctx, cfg); err != nil {
		// A failed scenario (load.ErrFailed) and a run that could not
		// happen both exit 1: either way the bench did not pass.
		fmt.Fprintln(stderr, "eddy-bench:", err)
		return 1
	}
	return 0
}

func flags(cfg *load.Config, out io.Writer) *flag.FlagSet {
	p := &cfg.Params
	fs := flag.NewFlagSet("eddy-bench "+cfg.Scenario, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&p.Pubs, "pubs", p.Pubs, "publishers (connections); the writers of records-fanout and durable-writes, the requesters of rpc")
	fs.IntVar(&p.Pubs, "writers", p.Pubs, "the same as -pubs")
	fs.IntVar(&p.Pubs, "requesters", p.Pubs, "the same as -pubs")
	fs.IntVar(&p.Subs, "subs", p.Subs, "subscribers (connections); the providers of rpc")
	fs.IntVar(&p.Subs, "providers", p.Subs, "the same as -subs")
	fs.IntVar(&p.Size, "size", p.Size, "payload `bytes` (JSON)")
	fs.DurationVar(&p.Duration, "duration", p.Duration, "measured time per run")
	fs.DurationVar(&p.Warmup, "warmup", p.Warmup, "unmeasured time before it")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "total publishes/s; 0: as fast as the server accepts")
	fs.IntVar(&p.ConfirmEvery, "confirm-every", p.ConfirmEvery, "ask for a confirmation (Emit with id -> Ack) every `n` publishes")
	fs.IntVar(&p.MaxUnconfirmed, "max-unconfirmed", p.MaxUnconfirmed, "confirmations outstanding per publisher")
	fs.IntVar(&p.Window, "window", p.Window, "messages published but not yet at every subscriber, over all publishers; rpc and durable-writes: requests in flight over all connections")
	fs.IntVar(&p.Conns, "conns", p.Conns, "connections: idle connections (0: 20000, or what the file-descriptor limit allows)")
	fs.IntVar(&p.DialConcurrency, "dial-concurrency", p.DialConcurrency, "connections: connections being opened at once")
	fs.IntVar(&p.Records, "records", p.Records, "durable-writes: records each writer writes in turn (1: the store coalesces a writer's writes)")
	fs.StringVar(&cfg.StoreDir, "store-dir", "", "records-fanout, durable-writes: parent `directory` of the spawned server's temporary Pebble store (default: the system's temp dir)")
	fs.DurationVar(&p.Drain, "drain", p.Drain, "wait for the last deliveries after publishing stops")
	fs.StringVar(&cfg.Transport, "transport", cfg.Transport, "tcp or ws (with -spawn, or an -addr without scheme)")
	fs.StringVar(&cfg.Addr, "addr", "", "running server: tcp://host:port or ws://host:port")
	fs.BoolVar(&cfg.Spawn, "spawn", false, "start a fresh in-process server on 127.0.0.1 for each run")
	fs.StringVar(&cfg.SpawnExec, "spawn-exec", "", "run this eddy `binary` as a fresh subprocess for each run (like the nats baseline)")
	fs.IntVar(&cfg.Loops, "loops", 0, "event loops of the -spawn server (0: one per CPU)")
	fs.StringVar(&cfg.Baseline, "baseline", "", "also run against a baseline and compare: nats (cluster-events-fanout always compares with NATS alone)")
	fs.IntVar(&cfg.Runs, "runs", 1, "runs per target; more than one adds the median")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "with -spawn: write a CPU profile of the Eddy runs to `file`")
	fs.Usage = func() { usage(out); fs.PrintDefaults() }
	return fs
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `eddy-bench: Eddy's load scenarios.

Usage:
  eddy-bench <scenario> [flags]

Scenarios: %s

Each run prints one JSON line on stdout; a summary goes to stderr. The exit
status is 1 when a run finds problems (no deliveries, losses, reordering,
errors). Run "eddy-bench <scenario> -h" for the flags.
`, strings.Join(load.Scenarios(), ", "))
}
