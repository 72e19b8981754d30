package load

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestConnectionsAgainstEddy(t *testing.T) {
	srv, err := SpawnEddy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, transport := range []string{"ws", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			target, _ := srv.Target(transport)
			p, _ := Defaults("connections")
			p.Conns, p.DialConcurrency, p.Duration = 300, 16, 100*time.Millisecond
			// Count the server's connections while they idle.
			seen := make(chan int, 1)
			go func() {
				deadline := time.Now().Add(10 * time.Second)
				peak := 0
				for time.Now().Before(deadline) {
					n := srv.Server().Connections()
					peak = max(peak, n)
					if peak >= p.Conns && n == 0 {
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
				seen <- peak
			}()
			f, problems, err := connections{}.Run(context.Background(), target, p)
			if err != nil || len(problems) > 0 {
				t.Fatal(err, problems)
			}
			if f.Counts["connected"] != 300 || f.Counts["dropped"] != 0 || f.Rates["connects"] <= 0 || f.Latency.Samples != 300 {
				t.Fatalf("figures %+v", f)
			}
			if _, ok := f.Values["heap_per_conn_bytes"]; !ok {
				t.Fatalf("no heap figure for an in-process server: %v", f.Values)
			}
			if peak := <-seen; peak < p.Conns {
				t.Fatalf("the server saw at most %d connections", peak)
			}
		})
	}
}

func TestConnectionsAgainstNATS(t *testing.T) {
	if _, err := FindNATS(); err != nil {
		t.Skip(err)
	}
	srv, err := SpawnNATS(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, transport := range []string{"ws", "tcp"} {
		target := srv.Target()
		target.Trans = transport
		p, _ := Defaults("connections")
		p.Conns, p.DialConcurrency, p.Duration = 200, 16, 100*time.Millisecond
		f, problems, err := connections{}.Run(context.Background(), target, p)
		if err != nil || len(problems) > 0 {
			t.Fatal(transport, err, problems)
		}
		if f.Counts["connected"] != 200 || f.Values["rss_after_mib"] <= 0 {
			t.Fatalf("%s: figures %+v", transport, f)
		}
	}
}

// fakeIdle is an idle connection whose Check may fail.
type fakeIdle struct{ broken bool }

func (c *fakeIdle) Check(time.Duration) error {
	if c.broken {
		return errors.New("connection reset")
	}
	return nil
}
func (c *fakeIdle) Close() error { return nil }

type fakeIdleTarget struct {
	fakeTarget
	n       atomic.Int64
	refuse  func(n int64) bool
	breakAt func(n int64) bool
}

func (f *fakeIdleTarget) DialIdle(context.Context) (IdleConn, error) {
	n := f.n.Add(1)
	if f.refuse != nil && f.refuse(n) {
		return nil, errors.New("connection refused")
	}
	return &fakeIdle{broken: f.breakAt != nil && f.breakAt(n)}, nil
}

func TestConnectionsReportsFailures(t *testing.T) {
	p, _ := Defaults("connections")
	p.Conns, p.DialConcurrency, p.Duration = 100, 4, 10*time.Millisecond
	for name, tc := range map[string]struct {
		target *fakeIdleTarget
		want   string
	}{
		"healthy": {&fakeIdleTarget{}, ""},
		"refused": {&fakeIdleTarget{refuse: func(n int64) bool { return n == 7 }}, "1 connections failed"},
		"dropped": {&fakeIdleTarget{breakAt: func(n int64) bool { return n%10 == 0 }}, "10 idle connections no longer served"},
		"none":    {&fakeIdleTarget{refuse: func(int64) bool { return true }}, "no connection was established"},
	} {
		_, problems, err := connections{}.Run(context.Background(), tc.target, p)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(problems, "; ")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Fatalf("%s: want a problem containing %q, got %q", name, tc.want, got)
		}
	}
	if _, _, err := (connections{}).Run(context.Background(), &fakeTarget{}, p); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a target without idle connections: %v", err)
	}
}

func TestConnCountFollowsTheDescriptorLimit(t *testing.T) {
	limit := int(RaiseFDLimit())
	out := &EddyTarget{PID: 1}
	in := &EddyTarget{InProcess: true}
	n, err := connCount(0, out)
	if err != nil || n != min(DefaultConns, limit-fdReserve) {
		t.Fatalf("default: %d %v (limit %d)", n, err, limit)
	}
	if n, err := connCount(0, in); err != nil || n != min(DefaultConns, (limit-fdReserve)/2) {
		t.Fatalf("in-process default: %d %v (limit %d)", n, err, limit)
	}
	if _, err := connCount(limit, out); err == nil {
		t.Fatal("more connections than descriptors accepted")
	}
	if n, err := connCount(10, in); err != nil || n != 10 {
		t.Fatalf("explicit: %d %v", n, err)
	}
}

func TestProcessRSS(t *testing.T) {
	rss, err := ProcessRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("rss %d %v", rss, err)
	}
	if _, err := ProcessRSS(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}
