package valve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const goodRules = "record:\n  \"a/*\": { read: true }\n"
const otherRules = "record:\n  \"a/*\": { read: false }\n  \"b/*\": { read: true }\n"
const brokenRules = "record:\n  \"a/*\": { read: \"user.id ==\" }\n"

// errSink collects the errors a Watcher reports.
type errSink struct {
	mu   sync.Mutex
	errs []error
	ch   chan struct{}
}

func newSink() *errSink { return &errSink{ch: make(chan struct{}, 16)} }

func (s *errSink) report(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
	s.ch <- struct{}{}
}

func (s *errSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errs)
}

func (s *errSink) last() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs[len(s.errs)-1]
}

func allowed(r *Rules, topic, action, name string) bool {
	return r.Check(&Request{Topic: topic, Action: action, Name: name}, nil).Allow
}

// replaceFile writes content to a temporary file and renames it over path,
// the way a careful editor or deployment does.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchReloadsAndKeepsGoodRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(goodRules), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := newSink()
	w, err := Watch(path, 10*time.Millisecond, sink.report)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first := w.Rules()
	if !allowed(first, "record", "read", "a/1") {
		t.Fatal("good rules not loaded")
	}

	// A broken file is reported with its position; the old rules stay.
	replaceFile(t, path, brokenRules)
	select {
	case <-sink.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("broken file not reported")
	}
	var e *Error
	if err := sink.last(); !errors.As(err, &e) || e.Pos.Line != 2 || e.Pos.Col != 28 ||
		!strings.Contains(err.Error(), "rules.yaml:2:28: unexpected token EOF") {
		t.Fatalf("reported error: %v", err)
	}
	if w.Rules() != first || !allowed(w.Rules(), "record", "read", "a/1") {
		t.Fatal("broken file replaced the rules")
	}
	// The same broken content is reported once, however many polls pass.
	time.Sleep(50 * time.Millisecond)
	if n := sink.count(); n != 1 {
		t.Fatalf("broken file reported %d times", n)
	}
	if err := w.Reload(); err == nil {
		t.Fatal("Reload of a broken file returned nil")
	}

	// A fixed file is picked up.
	replaceFile(t, path, otherRules)
	waitFor(t, "new rules", func() bool { return w.Rules() != first })
	if allowed(w.Rules(), "record", "read", "a/1") || !allowed(w.Rules(), "record", "read", "b/1") {
		t.Fatal("new rules not in effect")
	}
	if n := sink.count(); n != 1 {
		t.Fatalf("good file reported errors: %d", n)
	}
}

func TestWatchSameSizeEdit(t *testing.T) {
	// Same size, same second: only the content hash tells the files apart.
	path := filepath.Join(t.TempDir(), "rules.yaml")
	a := "record: { \"x\": { read: true  } }\n"
	b := "record: { \"x\": { read: false } }\n"
	if len(a) != len(b) {
		t.Fatal("test files must have the same size")
	}
	if err := os.WriteFile(path, []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Watch(path, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st, _ := os.Stat(path)
	if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the first poll sees the change, the second loads it
		w.mu.Lock()
		err = w.pollLocked(false, false)
		w.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if got := allowed(w.Rules(), "record", "read", "x"); got != (i == 0) {
			t.Fatalf("poll %d: allowed=%v", i, got)
		}
	}
}

func TestWatchMissingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if _, err := Watch(path, time.Second, nil); err == nil {
		t.Fatal("Watch of a missing file succeeded")
	}
	if err := os.WriteFile(path, []byte(goodRules), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := newSink()
	w, err := Watch(path, 10*time.Millisecond, sink.report)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rules := w.Rules()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("missing file not reported")
	}
	if !errors.Is(sink.last(), os.ErrNotExist) || w.Rules() != rules {
		t.Fatalf("got %v", sink.last())
	}
	time.Sleep(50 * time.Millisecond)
	if n := sink.count(); n != 1 {
		t.Fatalf("missing file reported %d times", n)
	}
}

func TestWatchBrokenAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(brokenRules), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Watch(path, time.Second, nil)
	var e *Error
	if !errors.As(err, &e) || e.File != path {
		t.Fatalf("got %v", err)
	}
}

func TestWatchCloseTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(goodRules), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Watch(path, time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close()
	if !allowed(w.Rules(), "record", "read", "a/1") {
		t.Fatal("rules gone after Close")
	}
}
