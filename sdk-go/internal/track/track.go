// Package track matches replies to the requests waiting for them.
//
// Every request a client sends that expects an answer gets an id from a
// Tracker together with a callback. When a reply carrying that id arrives,
// the connection's reader goroutine calls Resolve, which removes the entry
// and runs the callback with the verified message. When a connection is
// lost, Fail runs every callback registered for it with an error instead.
//
// Concurrency: all Tracker methods are safe from any goroutine. Callbacks run
// on the goroutine that resolves or fails them (usually the reader), outside
// the Tracker's lock; they must be quick, must not block, and must copy what
// they keep from the View, which is valid only until they return.
//
// Invariants:
//  1. Ids are never zero (zero means "no reply wanted" on the wire) and never
//     reused by one Tracker.
//  2. Each registered callback runs at most once: by Resolve, Fail or never
//     (after Cancel).
package track

import (
	"context"
	"sync"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Func receives either the reply (err == nil) or the reason none will come.
type Func func(v *msg.View, err error)

type entry struct {
	owner any
	fn    Func
}

// Tracker is the id -> waiter table. The zero value is ready to use.
type Tracker struct {
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]entry
}

// Add registers fn under a fresh id and returns the id. owner groups entries
// for Fail (usually the connection the request was written to).
func (t *Tracker) Add(owner any, fn Func) uint64 {
	t.mu.Lock()
	t.next++
	id := t.next
	if t.waiting == nil {
		t.waiting = make(map[uint64]entry)
	}
	t.waiting[id] = entry{owner: owner, fn: fn}
	t.mu.Unlock()
	return id
}

// Resolve removes the entry for v's id and runs its callback with v. It
// reports whether anyone was waiting.
func (t *Tracker) Resolve(id uint64, v *msg.View) bool {
	t.mu.Lock()
	e, ok := t.waiting[id]
	if ok {
		delete(t.waiting, id)
	}
	t.mu.Unlock()
	if ok {
		e.fn(v, nil)
	}
	return ok
}

// Cancel removes the entry without running its callback; a later reply for
// id is then unsolicited. It reports whether the entry was still there.
func (t *Tracker) Cancel(id uint64) bool {
	t.mu.Lock()
	_, ok := t.waiting[id]
	delete(t.waiting, id)
	t.mu.Unlock()
	return ok
}

// Fail removes every entry of owner (all entries when owner is nil) and runs
// their callbacks with err. It returns how many it failed.
func (t *Tracker) Fail(owner any, err error) int {
	var failed []Func
	t.mu.Lock()
	for id, e := range t.waiting {
		if owner == nil || e.owner == owner {
			failed = append(failed, e.fn)
			delete(t.waiting, id)
		}
	}
	t.mu.Unlock()
	for _, fn := range failed {
		fn(nil, err)
	}
	return len(failed)
}

// Len reports how many requests are waiting.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.waiting)
}

// Reply is an owned copy of a reply message (or the error that replaced it).
type Reply struct {
	Topic   fb.Topic
	Action  fb.Action
	Code    uint16
	Reason  string
	Name    string
	User    string
	Version int64
	Data    []byte
	Names   []string

	// Err is set when no reply will come (connection lost, client closed).
	Err error
}

// Copy makes an owned Reply from a View.
func Copy(v *msg.View) Reply {
	r := Reply{
		Topic: v.Topic(), Action: v.Action(), Code: v.Code(), Reason: string(v.Reason()),
		Name: string(v.Name()), User: string(v.User()), Version: v.Version(),
	}
	if d := v.DataBytes(); d != nil {
		r.Data = append([]byte(nil), d...)
	}
	if n := v.NamesLength(); n > 0 {
		r.Names = make([]string, n)
		for i := range r.Names {
			r.Names[i] = string(v.NamesAt(i))
		}
	}
	return r
}

// Waiter turns a callback registration into a blocking wait.
type Waiter struct{ ch chan Reply }

// NewWaiter returns a Waiter and the Func to register with Add.
func NewWaiter() (*Waiter, Func) {
	w := &Waiter{ch: make(chan Reply, 1)}
	return w, func(v *msg.View, err error) {
		if err != nil {
			w.ch <- Reply{Err: err}
			return
		}
		w.ch <- Copy(v)
	}
}

// Wait blocks until the reply (or its failure) arrives or ctx ends. On a
// ctx error the caller should Cancel the id.
func (w *Waiter) Wait(ctx context.Context) (Reply, error) {
	select {
	case r := <-w.ch:
		return r, nil
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}
