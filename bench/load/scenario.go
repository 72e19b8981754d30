package load

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Target is a server under load: Eddy or a baseline. Dial opens one
// client connection, ready to use (handshake and login done).
type Target interface {
	// Name is "eddy" or the baseline's name ("nats").
	Name() string
	// Transport is the wire the clients speak ("tcp", "ws").
	Transport() string
	// Dial opens one client connection.
	Dial(ctx context.Context) (Client, error)
}

// Client is one connection to a target, in the terms scenarios use. A
// scenario that needs more (records, RPC) asserts an optional interface on
// the Client it dials, and a target that cannot do it is skipped.
//
// Concurrency: Subscribe, Publish and Flush belong to one goroutine (the
// one driving the connection); Err and Close are safe from any goroutine.
type Client interface {
	// Subscribe subscribes to an event name and returns once the server
	// confirmed it. deliver runs on the client's reader goroutine, one call
	// at a time, with each payload published to name by another client; the
	// payload is valid only during the call.
	Subscribe(ctx context.Context, name string, deliver func(data []byte)) error
	// Publish queues one event (it may be written at once or on Flush).
	// With confirm, the target confirms, in publish order, that it has
	// processed everything this client published up to this event; each
	// confirmation sends one value on Confirmed.
	Publish(name string, data []byte, confirm bool) error
	// Flush writes everything queued.
	Flush() error
	// Confirmed receives one value per confirmation. Its buffer holds at
	// least 1024, so a publisher that keeps fewer confirmations
	// outstanding never blocks the reader.
	Confirmed() <-chan struct{}
	// Err returns the first asynchronous failure (error reply, connection
	// closed by the server), or nil.
	Err() error
	// Close closes the connection and waits for its reader goroutine.
	Close() error
}

// Params are the knobs shared by scenarios; each scenario documents how it
// reads them (events-fanout: Pubs publishers, Subs subscribers; rpc: Pubs
// requesters, Subs providers). Defaults gives each scenario's own values.
type Params struct {
	Pubs     int           `json:"pubs"`
	Subs     int           `json:"subs"`
	Size     int           `json:"size"`
	Duration time.Duration `json:"-"`
	Warmup   time.Duration `json:"-"`
	// Rate is the total publish rate in messages/s; 0 publishes as fast as
	// the target accepts (within the windows below).
	Rate float64 `json:"rate"`
	// ConfirmEvery asks for a confirmation on every ConfirmEvery-th publish.
	ConfirmEvery int `json:"confirm_every"`
	// MaxUnconfirmed bounds confirmations outstanding per publisher: a
	// publisher is at most ConfirmEvery*MaxUnconfirmed messages ahead of what
	// the server has processed.
	MaxUnconfirmed int `json:"max_unconfirmed"`
	// Window bounds the messages published but not yet received by every
	// subscriber, over all publishers, so subscribers' queues on the server
	// stay well below their cap.
	Window int `json:"window"`
	// Drain bounds the wait, after publishing stops, for the last messages.
	Drain time.Duration `json:"-"`
	// Conns is the number of idle connections of the connections scenario;
	// 0 is 20,000, or as many as the file-descriptor limit allows.
	Conns int `json:"conns,omitempty"`
	// DialConcurrency bounds the connections being opened at once
	// (connections scenario).
	DialConcurrency int `json:"dial_concurrency,omitempty"`
	// Records is the number of records each durable-writes writer writes
	// in turn (0 or 1: one record, whose writes in flight the store
	// coalesces).
	Records int `json:"records,omitempty"`
}

// DefaultParams are the events-fanout defaults of docs/performance.md.
func DefaultParams() Params {
	return Params{
		Pubs: 1, Subs: 10, Size: 128,
		Duration: 5 * time.Second, Warmup: time.Second,
		ConfirmEvery: 128, MaxUnconfirmed: 8, Window: 16384,
		Drain: 5 * time.Second,
	}
}

// Validate reports the first unusable parameter.
func (p Params) Validate() error {
	switch {
	case p.Pubs < 1 || p.Pubs > 1000:
		return fmt.Errorf("load: pubs %d: want 1..1000", p.Pubs)
	case p.Subs < 0 || p.Subs > 10000:
		return fmt.Errorf("load: subs %d: want 0..10000", p.Subs)
	case p.Size < MinPayload || p.Size > 1<<20:
		return fmt.Errorf("load: size %d: want %d..%d bytes", p.Size, MinPayload, 1<<20)
	case p.Duration <= 0:
		return fmt.Errorf("load: duration %s: want > 0", p.Duration)
	case p.Warmup < 0:
		return fmt.Errorf("load: warmup %s: want >= 0", p.Warmup)
	case p.Rate < 0:
		return fmt.Errorf("load: rate %g: want >= 0", p.Rate)
	case p.ConfirmEvery < 1:
		return fmt.Errorf("load: confirm-every %d: want >= 1", p.ConfirmEvery)
	case p.MaxUnconfirmed < 1 || p.MaxUnconfirmed > 1000:
		return fmt.Errorf("load: max-unconfirmed %d: want 1..1000", p.MaxUnconfirmed)
	case p.Window < p.Pubs:
		return fmt.Errorf("load: window %d: want >= pubs (%d)", p.Window, p.Pubs)
	case p.Drain <= 0:
		return fmt.Errorf("load: drain %s: want > 0", p.Drain)
	case p.Conns < 0 || p.Conns > 1_000_000:
		return fmt.Errorf("load: conns %d: want 0..1000000", p.Conns)
	case p.DialConcurrency < 0 || p.DialConcurrency > 10000:
		return fmt.Errorf("load: dial-concurrency %d: want 0..10000", p.DialConcurrency)
	case p.Records < 0 || p.Records > 100000:
		return fmt.Errorf("load: records %d: want 0..100000", p.Records)
	}
	return nil
}

// Defaults returns the parameters and transport scenario name runs with
// when no flag changes them (docs/performance.md); DefaultParams and "tcp"
// for a scenario without defaults of its own, or an unknown name.
func Defaults(name string) (Params, string) {
	registry.Lock()
	s := registry.m[name]
	registry.Unlock()
	if d, ok := s.(interface{ defaults() (Params, string) }); ok {
		return d.defaults()
	}
	return DefaultParams(), "tcp"
}

// ErrUnsupported is returned (wrapped) by a scenario whose target cannot
// do what it measures (durable-writes against NATS): Run skips such a
// baseline with a message instead of failing.
var ErrUnsupported = errors.New("load: the target cannot run this scenario")

// Figures are what one run measured. Rates are per second over the
// measured window; Counts cover the whole run, warm-up and drain included.
type Figures struct {
	Rates   map[string]float64 `json:"rates"`
	Latency Latency            `json:"latency"`
	Counts  map[string]uint64  `json:"counts"`
	// Elapsed is the measured window's real length in seconds.
	Elapsed float64 `json:"elapsed_s"`
	// Values are measurements that are neither rates nor counts (bytes of
	// server memory per connection); a median takes their median.
	Values map[string]float64 `json:"values,omitempty"`
}

// Scenario is one standard load shape (DESIGN.md, "Standard bench
// scenarios"). Run drives target with p and returns the figures and the
// problems found (losses, reorders, errors); problems make a run fail but
// the figures are still reported. err is for runs that could not happen at
// all (dial failed, bad parameters).
type Scenario interface {
	Name() string
	// Headline names the rate compared against baselines ("deliveries").
	Headline() string
	Run(ctx context.Context, target Target, p Params) (f Figures, problems []string, err error)
}

var registry = struct {
	sync.Mutex
	m map[string]Scenario
}{m: map[string]Scenario{}}

// Register adds a scenario; it panics on a duplicate name (a programming
// error found at init).
func Register(s Scenario) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[s.Name()]; dup {
		panic("load: scenario " + s.Name() + " registered twice")
	}
	registry.m[s.Name()] = s
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, error) {
	registry.Lock()
	defer registry.Unlock()
	if s, ok := registry.m[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("load: unknown scenario %q (have: %s)", name, strings.Join(namesLocked(), ", "))
}

// Scenarios returns the registered scenario names, sorted.
func Scenarios() []string {
	registry.Lock()
	defer registry.Unlock()
	return namesLocked()
}

func namesLocked() []string {
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
