package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/eddy-realtime/eddy/engine"
)

// Config is one eddy-bench invocation.
type Config struct {
	Scenario string
	Params   Params
	// Transport is "tcp" or "ws": the listener used with Spawn, or with an
	// Addr that has no scheme.
	Transport string
	// Addr is a running server: "tcp://host:port", "ws://host:port" or
	// "host:port". Exactly one of Addr and Spawn.
	Addr string
	// Spawn starts a fresh in-process server (engine.New/Start on
	// 127.0.0.1:0) for every run.
	Spawn bool
	// SpawnExec runs this eddy binary (cmd/eddy) as a subprocess for every
	// run instead of in-process: the same footing as the nats-server
	// baseline, whose runtime is not shared with the load generator either.
	SpawnExec string
	// Loops sets the in-process server's event loops (0: one per CPU).
	Loops int
	// StoreDir is where a spawned server keeps its Pebble store for the
	// scenarios that measure storage (records-fanout, durable-writes): a
	// fresh temporary directory inside it per run, removed afterwards.
	// Default os.TempDir().
	StoreDir string
	// Baseline is "" or "nats": also run the scenario against a fresh
	// nats-server subprocess and compare. A clustered scenario
	// (cluster-events-fanout) always measures its NATS-only baseline, on
	// the in-process NATS cluster of its Eddy nodes.
	Baseline string
	// Runs is the number of runs per target (default 1); with more than
	// one a median line follows.
	Runs int
	// CPUProfile, with Spawn, writes a CPU profile of this process over all
	// runs. Load-generator goroutines carry the pprof label side=client, so
	// `go tool pprof -tagignore side=client` shows the Eddy server alone (a
	// baseline server runs in its own process and never appears).
	CPUProfile string
	// Out receives one JSON line per run, median and comparison.
	Out io.Writer
	// Log receives a readable summary and server warnings (nil: stderr).
	Log io.Writer
}

// Result is one JSON line: a run, or the median of several.
type Result struct {
	Kind      string   `json:"kind"` // "run" or "median"
	Scenario  string   `json:"scenario"`
	Target    string   `json:"target"`
	Transport string   `json:"transport"`
	Run       int      `json:"run,omitempty"`
	Runs      int      `json:"runs,omitempty"`
	Params    Params   `json:"params"`
	Figures   Figures  `json:"figures"`
	Problems  []string `json:"problems,omitempty"`
	Machine   Machine  `json:"machine"`
	Time      string   `json:"time"`
}

// Comparison is the JSON line comparing Eddy's median with the baseline's.
type Comparison struct {
	Kind     string  `json:"kind"` // "compare"
	Scenario string  `json:"scenario"`
	Headline string  `json:"headline"`
	Baseline string  `json:"baseline"`
	Eddy     float64 `json:"eddy"`
	Other    float64 `json:"other"`
	// Ratio is Eddy's headline rate over the baseline's (>1: Eddy is faster).
	Ratio float64 `json:"ratio"`
	// LatencyRatio is Eddy's p50 and p99 over the baseline's (<1: Eddy is faster).
	P50Ratio float64 `json:"p50_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
}

// Report is everything one invocation measured.
type Report struct {
	Runs    map[string][]Result // by target name
	Medians map[string]Result
	Compare *Comparison
}

// ErrFailed is returned (wrapped) by Run when a run found problems.
var ErrFailed = errors.New("load: scenario failed")

// MarshalJSON writes durations as strings ("5s").
func (p Params) MarshalJSON() ([]byte, error) {
	type plain Params
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
		Warmup   string `json:"warmup"`
		Drain    string `json:"drain"`
	}{plain(p), p.Duration.String(), p.Warmup.String(), p.Drain.String()})
}

// Run performs cfg's runs, writes the JSON lines and the summary, and
// returns the report; the error wraps ErrFailed when any run found
// problems. A missing nats-server skips the baseline with a message.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	sc, err := Lookup(cfg.Scenario)
	if err != nil {
		return nil, err
	}
	if err := cfg.Params.Validate(); err != nil {
		return nil, err
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 1
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Transport == "" {
		cfg.Transport = "tcp"
	}
	if n := btoi(cfg.Spawn) + btoi(cfg.Addr != "") + btoi(cfg.SpawnExec != ""); n != 1 {
		return nil, errors.New("load: give exactly one of -addr, -spawn and -spawn-exec")
	}
	if cfg.CPUProfile != "" && !cfg.Spawn {
		return nil, errors.New("load: -cpuprofile profiles the in-process server: it needs -spawn")
	}
	if cfg.Baseline != "" && cfg.Baseline != "nats" {
		return nil, fmt.Errorf("load: baseline %q: the only baseline is nats", cfg.Baseline)
	}
	addr, transport, err := parseAddr(cfg.Addr, cfg.Transport)
	if err != nil {
		return nil, err
	}
	cfg.Transport = transport
	cs, clustered := sc.(clusteredScenario)
	if clustered && cfg.Addr != "" {
		return nil, errClusterAddr
	}
	if clustered && cfg.Transport != "tcp" {
		return nil, fmt.Errorf("load: %s runs over tcp only (its NATS servers have no WebSocket listener)", sc.Name())
	}
	if clustered {
		cfg.Log = &lockedWriter{w: cfg.Log}
	}
	// Connections need descriptors; servers spawned from here inherit the
	// raised limit.
	RaiseFDLimit()
	machine := ThisMachine()
	rep := &Report{Runs: map[string][]Result{}, Medians: map[string]Result{}}
	enc := json.NewEncoder(cfg.Out)
	failed := false

	emit := func(res Result) error {
		if len(res.Problems) > 0 {
			failed = true
		}
		rep.Runs[res.Target] = append(rep.Runs[res.Target], res)
		fmt.Fprintln(cfg.Log, summary(res))
		for _, p := range res.Problems {
			fmt.Fprintf(cfg.Log, "  problem: %s\n", p)
		}
		return enc.Encode(res)
	}

	// Runs alternate between Eddy and the baseline, so a change in
	// the machine's other load during the invocation skews both alike.
	baseline := cfg.Baseline == "nats"
	if baseline && !clustered {
		if _, err := FindNATS(); err != nil {
			fmt.Fprintf(cfg.Log, "baseline skipped: %v\n", err)
			baseline = false
		}
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("load: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	for i := 1; i <= cfg.Runs; i++ {
		if clustered {
			// Eddy nodes, then NATS alone, on one fresh NATS cluster.
			err := runCluster(ctx, sc, cs.clustered(), cfg, func(res Result, la string) error {
				res.Run, res.Machine = i, machine
				res.Machine.LoadAvg = la
				return emit(res)
			})
			if err != nil {
				return rep, err
			}
			continue
		}
		la := loadAvg()
		res, err := runEddy(ctx, sc, cfg, addr)
		if err != nil {
			return rep, err
		}
		res.Run, res.Machine = i, machine
		res.Machine.LoadAvg = la
		if err := emit(res); err != nil {
			return rep, err
		}
		if !baseline {
			continue
		}
		la = loadAvg()
		if res, err = runNATS(ctx, sc, cfg); err != nil {
			if errors.Is(err, ErrUnsupported) {
				fmt.Fprintf(cfg.Log, "baseline skipped: %v\n", err)
				baseline = false
				continue
			}
			return rep, err
		}
		res.Run, res.Machine = i, machine
		res.Machine.LoadAvg = la
		if err := emit(res); err != nil {
			return rep, err
		}
	}
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}

	for _, target := range []string{"eddy", "nats"} {
		runs := rep.Runs[target]
		if len(runs) < 2 {
			if len(runs) == 1 {
				rep.Medians[target] = runs[0]
			}
			continue
		}
		m := Median(runs)
		rep.Medians[target] = m
		fmt.Fprintln(cfg.Log, summary(m))
		if err := enc.Encode(m); err != nil {
			return rep, err
		}
	}
	if e, ok := rep.Medians["eddy"]; ok {
		if n, ok := rep.Medians["nats"]; ok {
			rep.Compare = compare(sc, e, n)
			c := rep.Compare
			fmt.Fprintf(cfg.Log, "%s %s: eddy %.0f/s, nats %.0f/s, ratio %.2f (p50 ratio %.2f, p99 ratio %.2f)\n",
				c.Scenario, c.Headline, c.Eddy, c.Other, c.Ratio, c.P50Ratio, c.P99Ratio)
			if err := enc.Encode(c); err != nil {
				return rep, err
			}
		}
	}
	if failed {
		return rep, fmt.Errorf("%w: see the problems above", ErrFailed)
	}
	return rep, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseAddr splits "tcp://h:p" / "ws://h:p" / "h:p".
func parseAddr(addr, transport string) (string, string, error) {
	if transport != "tcp" && transport != "ws" {
		return "", "", fmt.Errorf("load: transport %q: want tcp or ws", transport)
	}
	if addr == "" {
		return "", transport, nil
	}
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		switch scheme {
		case "tcp", "ws":
			return strings.TrimSuffix(rest, "/"), scheme, nil
		}
		return "", "", fmt.Errorf("load: address %q: scheme must be tcp:// or ws://", addr)
	}
	return addr, transport, nil
}

// clientLabels mark load-generator goroutines in CPU profiles.
var clientLabels = pprof.Labels("side", "client")

func runScenario(ctx context.Context, sc Scenario, t Target, p Params) (f Figures, problems []string, err error) {
	pprof.Do(ctx, clientLabels, func(ctx context.Context) {
		f, problems, err = sc.Run(ctx, t, p)
	})
	return f, problems, err
}

// durableStore is implemented by scenarios that measure record storage: a
// spawned Eddy server then keeps records in Pebble, in a fresh temporary
// directory, instead of in memory.
type durableStore interface{ durableStore() bool }

func runEddy(ctx context.Context, sc Scenario, cfg Config, addr string) (Result, error) {
	var t Target = &EddyTarget{Addr: addr, Trans: cfg.Transport}
	var storeDir string
	if d, ok := sc.(durableStore); ok && d.durableStore() && (cfg.Spawn || cfg.SpawnExec != "") {
		dir, err := os.MkdirTemp(cfg.StoreDir, "eddy-bench-store-")
		if err != nil {
			return Result{}, fmt.Errorf("load: store directory: %w", err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
		storeDir = dir
	}
	if cfg.SpawnExec != "" {
		var sets []string
		if storeDir != "" {
			sets = []string{"store.engine=pebble", "store.path=" + storeDir}
		}
		srv, err := SpawnEddyProcess(cfg.SpawnExec, cfg.Log, sets...)
		if err != nil {
			return Result{}, err
		}
		defer func() { _ = srv.Close() }()
		if t, err = srv.Target(cfg.Transport); err != nil {
			return Result{}, err
		}
	}
	if cfg.Spawn {
		srv, err := SpawnEddy(func(o *engine.Options) {
			o.Net.Loops = cfg.Loops
			if storeDir != "" {
				o.Store.Engine, o.Store.Path = "pebble", storeDir
			}
		}, cfg.Log)
		if err != nil {
			return Result{}, err
		}
		defer func() { _ = srv.Close() }()
		if t, err = srv.Target(cfg.Transport); err != nil {
			return Result{}, err
		}
	}
	return result(ctx, sc, t, cfg.Params)
}

func runNATS(ctx context.Context, sc Scenario, cfg Config) (Result, error) {
	srv, err := SpawnNATS(nil)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = srv.Close() }()
	t := srv.Target()
	t.Trans = cfg.Transport
	return result(ctx, sc, t, cfg.Params)
}

func result(ctx context.Context, sc Scenario, t Target, p Params) (Result, error) {
	started := time.Now()
	f, problems, err := runScenario(ctx, sc, t, p)
	if err != nil {
		return Result{}, fmt.Errorf("load: %s against %s: %w", sc.Name(), t.Name(), err)
	}
	return Result{Kind: "run", Scenario: sc.Name(), Target: t.Name(), Transport: t.Transport(),
		Params: p, Figures: f, Problems: problems, Time: started.UTC().Format(time.RFC3339)}, nil
}

// Median combines runs of one target: each rate, latency figure and the
// elapsed time are the median over the runs; counts are summed; problems
// are gathered.
func Median(runs []Result) Result {
	m := runs[0]
	m.Kind, m.Run, m.Runs = "median", 0, len(runs)
	m.Problems = nil
	med := func(get func(Result) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = get(r)
		}
		sort.Float64s(xs)
		if len(xs)%2 == 1 {
			return xs[len(xs)/2]
		}
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	m.Figures.Rates = map[string]float64{}
	for k := range runs[0].Figures.Rates {
		m.Figures.Rates[k] = round1(med(func(r Result) float64 { return r.Figures.Rates[k] }))
	}
	if len(runs[0].Figures.Values) > 0 {
		m.Figures.Values = map[string]float64{}
		for k := range runs[0].Figures.Values {
			m.Figures.Values[k] = round1(med(func(r Result) float64 { return r.Figures.Values[k] }))
		}
	}
	m.Figures.Counts = map[string]uint64{}
	for _, r := range runs {
		for k, v := range r.Figures.Counts {
			m.Figures.Counts[k] += v
		}
		m.Problems = append(m.Problems, r.Problems...)
	}
	l := &m.Figures.Latency
	l.P50 = med(func(r Result) float64 { return r.Figures.Latency.P50 })
	l.P99 = med(func(r Result) float64 { return r.Figures.Latency.P99 })
	l.P999 = med(func(r Result) float64 { return r.Figures.Latency.P999 })
	l.Max = med(func(r Result) float64 { return r.Figures.Latency.Max })
	l.Mean = med(func(r Result) float64 { return r.Figures.Latency.Mean })
	l.Samples = uint64(med(func(r Result) float64 { return float64(r.Figures.Latency.Samples) }))
	m.Figures.Elapsed = round3(med(func(r Result) float64 { return r.Figures.Elapsed }))
	return m
}

func compare(sc Scenario, eddy, other Result) *Comparison {
	h := sc.Headline()
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return math.Round(a/b*1000) / 1000
	}
	return &Comparison{
		Kind: "compare", Scenario: sc.Name(), Headline: h, Baseline: other.Target,
		Eddy: eddy.Figures.Rates[h], Other: other.Figures.Rates[h],
		Ratio:    ratio(eddy.Figures.Rates[h], other.Figures.Rates[h]),
		P50Ratio: ratio(eddy.Figures.Latency.P50, other.Figures.Latency.P50),
		P99Ratio: ratio(eddy.Figures.Latency.P99, other.Figures.Latency.P99),
	}
}

func summary(r Result) string {
	var b strings.Builder
	if r.Kind == "median" {
		fmt.Fprintf(&b, "%s %s/%s median of %d:", r.Scenario, r.Target, r.Transport, r.Runs)
	} else {
		fmt.Fprintf(&b, "%s %s/%s run %d:", r.Scenario, r.Target, r.Transport, r.Run)
	}
	keys := make([]string, 0, len(r.Figures.Rates))
	for k := range r.Figures.Rates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %.0f %s/s", r.Figures.Rates[k], k)
	}
	l := r.Figures.Latency
	fmt.Fprintf(&b, ", latency p50 %.1fµs p99 %.1fµs p999 %.1fµs", l.P50, l.P99, l.P999)
	keys = keys[:0]
	for k := range r.Figures.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ", %s %.1f", k, r.Figures.Values[k])
	}
	return b.String()
}
