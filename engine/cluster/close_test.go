package cluster_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/cluster/clustertest"
)

// warnings keeps the messages of records at Warn and above.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, r.Message)
	w.mu.Unlock()
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// A node closing its own NATS connection (a graceful shutdown) must not
// warn that it was disconnected and traffic stops "until it is back".
func TestCloseDoesNotWarnOfDisconnection(t *testing.T) {
	nc := clustertest.StartNATS(t, 1)
	w := &warnings{}
	n, err := cluster.New(cluster.Config{URLs: nc.URL(0), Node: "n0", Logger: slog.New(w)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "connected", n.Connected)
	n.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if strings.Contains(m, "disconnected") {
			t.Fatalf("Close logged a warning: %q", m)
		}
	}
}
