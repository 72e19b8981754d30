package eddy

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
)

// AnonymousRecord is a record handle whose name can change (deepstream's
// anonymous record): its path subscriptions follow it from record to
// record. Useful for "the selected item" views. Get it from
// Records.GetAnonymousRecord; every method is safe from any goroutine.
type AnonymousRecord struct {
	rs *Records

	switchMu sync.Mutex // serialises SetName and Discard

	mu     sync.Mutex
	h      *Record // nil until SetName
	subs   []*anonSub
	onName []func(string)
	done   bool
}

type anonSub struct {
	path  string
	fn    func(json.RawMessage)
	unsub func()
}

// GetAnonymousRecord returns an anonymous record with no name yet.
func (rs *Records) GetAnonymousRecord() *AnonymousRecord {
	return &AnonymousRecord{rs: rs}
}

// SetName points the anonymous record at the record called name (getting
// it as Get does), moves every path subscription there, calling each at
// once with its value in the new record, and discards the record it held
// before. OnNameChanged callbacks then run. On error nothing changes.
func (a *AnonymousRecord) SetName(ctx context.Context, name string) error {
	a.switchMu.Lock()
	defer a.switchMu.Unlock()
	a.mu.Lock()
	done := a.done
	same := a.h != nil && a.h.Name() == name
	a.mu.Unlock()
	if done {
		return ErrRecordDiscarded
	}
	if same {
		return nil
	}
	h, err := a.rs.Get(ctx, name)
	if err != nil {
		return err
	}
	a.mu.Lock()
	old := a.h
	a.h = h
	for _, s := range a.subs {
		if s.unsub != nil {
			s.unsub()
		}
		s.unsub = h.SubscribeNow(s.path, s.fn)
	}
	hooks := slices.Clone(a.onName)
	a.mu.Unlock()
	if old != nil {
		old.Discard()
	}
	for _, fn := range hooks {
		a.rs.c.disp.call(func() { fn(name) })
	}
	return nil
}

// Name returns the current name ("" before SetName).
func (a *AnonymousRecord) Name() string {
	if h := a.handle(); h != nil {
		return h.Name()
	}
	return ""
}

func (a *AnonymousRecord) handle() *Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.h
}

// Record returns the handle of the record currently named (nil before
// SetName). It stays owned by the anonymous record: do not discard it.
func (a *AnonymousRecord) Record() *Record { return a.handle() }

// Get returns the value at path of the current record (nil before
// SetName); see Record.Get.
func (a *AnonymousRecord) Get(path string) json.RawMessage {
	if h := a.handle(); h != nil {
		return h.Get(path)
	}
	return nil
}

// Version returns the current record's local version (0 before SetName).
func (a *AnonymousRecord) Version() int64 {
	if h := a.handle(); h != nil {
		return h.Version()
	}
	return 0
}

// Subscribe calls fn with the value at path of the current record each
// time it changes, and with the new record's value each time the name
// changes. The subscription lasts until the returned function is called.
func (a *AnonymousRecord) Subscribe(path string, fn func(value json.RawMessage)) (unsubscribe func()) {
	if fn == nil {
		return func() {}
	}
	s := &anonSub{path: path, fn: fn}
	a.mu.Lock()
	if a.done {
		a.mu.Unlock()
		return func() {}
	}
	if a.h != nil {
		s.unsub = a.h.Subscribe(path, fn)
	}
	a.subs = append(a.subs, s)
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if i := slices.Index(a.subs, s); i >= 0 {
			a.subs = slices.Delete(a.subs, i, i+1)
			if s.unsub != nil {
				s.unsub()
			}
		}
	}
}

// OnNameChanged registers fn to run on the callback goroutine after each
// successful SetName.
func (a *AnonymousRecord) OnNameChanged(fn func(name string)) {
	if fn == nil {
		return
	}
	a.mu.Lock()
	a.onName = append(a.onName, fn)
	a.mu.Unlock()
}

func (a *AnonymousRecord) current() (*Record, error) {
	if h := a.handle(); h != nil {
		return h, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return nil, ErrRecordDiscarded
	}
	return nil, ErrNoName
}

// Set replaces the current record's document (see Record.Set); ErrNoName
// before SetName.
func (a *AnonymousRecord) Set(ctx context.Context, value any) error {
	h, err := a.current()
	if err != nil {
		return err
	}
	return h.Set(ctx, value)
}

// SetPath writes value at path of the current record (see Record.SetPath).
func (a *AnonymousRecord) SetPath(ctx context.Context, path string, value any) error {
	h, err := a.current()
	if err != nil {
		return err
	}
	return h.SetPath(ctx, path, value)
}

// SetWithAck writes value at path of the current record and waits for it
// to be durable (see Record.SetWithAck).
func (a *AnonymousRecord) SetWithAck(ctx context.Context, path string, value any) error {
	h, err := a.current()
	if err != nil {
		return err
	}
	return h.SetWithAck(ctx, path, value)
}

// Erase removes path from the current record (see Record.Erase).
func (a *AnonymousRecord) Erase(ctx context.Context, path string) error {
	h, err := a.current()
	if err != nil {
		return err
	}
	return h.Erase(ctx, path)
}

// Discard releases the current record and ends every subscription; the
// anonymous record cannot be used again.
func (a *AnonymousRecord) Discard() {
	a.switchMu.Lock()
	defer a.switchMu.Unlock()
	a.mu.Lock()
	h := a.h
	a.h, a.subs, a.done = nil, nil, true
	a.mu.Unlock()
	if h != nil {
		h.Discard()
	}
}
