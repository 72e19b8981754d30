package valve

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWatchInterval is the polling interval Watch uses when given zero.
const DefaultWatchInterval = time.Second

// racyWindow: a file modified this close to the moment it was read may have
// changed again within the file system's timestamp granularity without
// changing its size, so it is read again on the next poll (the "racily
// clean" rule Git uses for its index).
const racyWindow = 2 * time.Second

// Watcher keeps the rules of one file current. It polls the file's
// modification time and size, and the hash of its content when those move.
// New content is loaded once two polls in a row have seen it, so a file
// caught half written is not loaded; the new rules are then swapped in
// atomically. A file that fails to load is reported through onError, once
// per distinct content, and the rules in use stay as they were. Replacing
// the file by renaming a finished one over it is the safest way to edit.
type Watcher struct {
	path     string
	opts     Options
	interval time.Duration
	onError  func(error)
	rules    atomic.Pointer[Rules]

	mu struct {
		sync.Mutex
		mod    time.Time
		size   int64
		readAt time.Time
		loaded [sha256.Size]byte // content of the rules in use
		failed [sha256.Size]byte // last content that failed to load
		bad    bool              // failed is set
		seen   [sha256.Size]byte // changed content waiting for a second look
		seenOK bool              // seen is set
		statEr string            // last stat/read error reported
	}

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Watch loads path with default Options and starts polling it every
// interval (zero means DefaultWatchInterval). onError, which may be nil,
// receives every problem found later, from the Watcher's goroutine: load
// errors (with file:line:col) and files that cannot be read. Watch fails if
// the first load fails.
func Watch(path string, interval time.Duration, onError func(error)) (*Watcher, error) {
	return WatchWith(path, interval, onError, Options{})
}

// WatchWith is Watch with Options.
func WatchWith(path string, interval time.Duration, onError func(error), opts Options) (*Watcher, error) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	if onError == nil {
		onError = func(error) {}
	}
	w := &Watcher{
		path:     path,
		opts:     opts,
		interval: interval,
		onError:  onError,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.mu.Lock()
	err := w.pollLocked(true, false)
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go w.loop()
	return w, nil
}

// Rules returns the rules in use. Safe from any goroutine; never nil.
func (w *Watcher) Rules() *Rules { return w.rules.Load() }

// Reload checks the file now instead of waiting for the next poll and
// returns the load error, if any; the rules in use stay when it fails.
// Errors are not passed to onError. Safe from any goroutine.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pollLocked(true, false)
}

// Close stops polling and waits for the Watcher's goroutine to end. The
// rules stay readable. Close may be called more than once.
func (w *Watcher) Close() {
	w.closeOnce.Do(func() { close(w.stop) })
	<-w.done
}

func (w *Watcher) loop() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			_ = w.pollLocked(false, true)
			w.mu.Unlock()
		}
	}
}

// pollLocked looks at the file and loads it if its content changed. force
// reads the file even when time and size did not move; report sends new
// problems to onError.
func (w *Watcher) pollLocked(force, report bool) error {
	st, err := os.Stat(w.path)
	if err != nil {
		return w.fileErrorLocked(err, report)
	}
	now := time.Now()
	moved := !st.ModTime().Equal(w.mu.mod) || st.Size() != w.mu.size
	racy := w.mu.readAt.Sub(w.mu.mod) < racyWindow
	if !force && !moved && !racy && !w.mu.seenOK {
		return nil
	}
	src, err := os.ReadFile(w.path)
	if err != nil {
		return w.fileErrorLocked(err, report)
	}
	w.mu.statEr = ""
	w.mu.mod, w.mu.size, w.mu.readAt = st.ModTime(), st.Size(), now
	sum := sha256.Sum256(src)
	if w.rules.Load() != nil && bytes.Equal(sum[:], w.mu.loaded[:]) {
		w.mu.bad, w.mu.seenOK = false, false // back to the content in use
		return nil
	}
	if w.mu.bad && sum == w.mu.failed && !force {
		return nil // already reported
	}
	if !force && (!w.mu.seenOK || sum != w.mu.seen) {
		w.mu.seen, w.mu.seenOK = sum, true // load it if the next poll agrees
		return nil
	}
	w.mu.seenOK = false
	r, err := ParseWith(src, w.path, w.opts)
	if err != nil {
		w.mu.failed, w.mu.bad = sum, true
		if report {
			w.onError(err)
		}
		return err
	}
	w.mu.loaded, w.mu.bad = sum, false
	w.rules.Store(r)
	return nil
}

func (w *Watcher) fileErrorLocked(err error, report bool) error {
	err = fmt.Errorf("valve: watching rules: %w", err)
	if report && err.Error() != w.mu.statEr {
		w.mu.statEr = err.Error()
		w.onError(err)
	}
	return err
}
