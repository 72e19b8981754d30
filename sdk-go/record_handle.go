package eddy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Record is one handle to a record held by the client (from Records.Get).
// Handles of the same name share one local copy; each handle owns its
// path subscriptions and OnDelete callbacks, and must be discarded.
//
// Paths: "" is the whole document; otherwise keys separated by dots with
// array indexes in brackets: "position.x", "tags[2]", "a.b[0].c".
//
// Writes (Set, SetPath, Erase and their WithAck forms) change the local
// copy at once, fire this client's path subscriptions whose values changed,
// and send the change as the next version. A write that changes nothing
// sends nothing. Values are marshalled with encoding/json; a
// json.RawMessage is taken as it is (it must be valid JSON).
//
// While the client is reconnecting, or while a conflict is being resolved,
// writes still apply locally and are queued (at most MaxQueuedWrites per
// record); they are sent, in order, once the record has been read again
// on the new connection, on top of the server's document. Writes already
// sent when a connection drops may or may not have reached the server: if
// the server's document then differs from the local one, the merge
// strategy decides (see MergeStrategy).
//
// Every method is safe from any goroutine.
type Record struct {
	r    *localRecord
	done atomic.Bool
}

// Name returns the record's name.
func (h *Record) Name() string { return h.r.name }

// Version returns the local version: the last one written or received.
func (h *Record) Version() int64 {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	return h.r.version
}

// Get returns the value at path in the local copy, or nil when the path
// leads nowhere or is invalid. The returned bytes are shared with the
// local copy: read them, never modify them.
func (h *Record) Get(path string) json.RawMessage {
	p, err := jsonpath.Parse(path)
	if err != nil {
		return nil
	}
	h.r.mu.Lock()
	doc := h.r.data
	h.r.mu.Unlock()
	v, ok, _ := p.Get(doc)
	if !ok {
		return nil
	}
	return v
}

// Unmarshal decodes the value at path of the local copy into v with
// encoding/json. A path that leads nowhere is an error matching
// ErrInvalidPath.
func (h *Record) Unmarshal(path string, v any) error {
	p, err := jsonpath.Parse(path)
	if err != nil {
		return &Error{Code: protocol.CodeInvalidPath, Op: "get", Name: h.r.name, Reason: err.Error()}
	}
	h.r.mu.Lock()
	doc := h.r.data
	h.r.mu.Unlock()
	b, ok, _ := p.Get(doc)
	if !ok {
		return &Error{Code: protocol.CodeInvalidPath, Op: "get", Name: h.r.name, Reason: "nothing at " + path}
	}
	return json.Unmarshal(b, v)
}

func (h *Record) check() error {
	if h.done.Load() {
		return ErrRecordDiscarded
	}
	return nil
}

// Set replaces the whole document with value, which must marshal to a JSON
// object or array.
func (h *Record) Set(ctx context.Context, value any) error {
	return h.write(ctx, opSet, "", value, false)
}

// SetPath writes value at path, creating missing objects and arrays on the
// way (an index past the end pads the array with null). Path "" is Set.
func (h *Record) SetPath(ctx context.Context, path string, value any) error {
	return h.write(ctx, opSet, path, value, false)
}

// SetWithAck is SetPath that returns once the write is durable on the
// server (a WriteAck), or with the reason it is not: the server's refusal
// (an *Error), ErrConnectionLost (it may or may not have been written),
// ctx's error, or, when it conflicted with a concurrent write, the outcome
// of the merge: nil once the merged document is durable (or when the
// server's document turned out equal to the local one), an *Error matching
// ErrVersionConflict when the server's document was kept instead
// (RemoteWins, a MergeFunc that returned it, or MaxMergeAttempts reached).
// A write queued while disconnected waits until it has been sent and
// acknowledged. A write that changes nothing returns nil at once.
func (h *Record) SetWithAck(ctx context.Context, path string, value any) error {
	return h.write(ctx, opSet, path, value, true)
}

// Erase removes the value at path: an object member, or an array element
// (later elements shift down). Erasing what is not there does nothing.
func (h *Record) Erase(ctx context.Context, path string) error {
	return h.write(ctx, opErase, path, nil, false)
}

// EraseWithAck is Erase that waits like SetWithAck.
func (h *Record) EraseWithAck(ctx context.Context, path string) error {
	return h.write(ctx, opErase, path, nil, true)
}

func (h *Record) write(ctx context.Context, kind opKind, path string, value any, ack bool) error {
	if err := h.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return wrapErr(fmt.Sprintf("write %q", h.r.name), err)
	}
	op, err := makeOp(h.r.name, kind, path, value)
	if err != nil {
		return err
	}
	if ack {
		op.ack = newAckWaiter()
	}
	r := h.r
	r.mu.Lock()
	switch {
	case r.state == stGone:
		err = r.goneErr
	case r.deleting:
		err = ErrRecordDeleted
	default:
		err = r.applyLocked(op, true, true)
	}
	r.mu.Unlock()
	if err != nil || !ack {
		return err
	}
	select {
	case err := <-op.ack.ch:
		return err
	case <-ctx.Done():
		return wrapErr(fmt.Sprintf("write %q", r.name), ctx.Err())
	case <-r.rs.c.done: // stopped with the write still queued
		select {
		case err := <-op.ack.ch:
			return err
		default:
			return ErrClosed
		}
	}
}

// Subscribe calls fn with the value at path (nil when the path leads
// nowhere) each time it changes, whether by this client or another, once
// per change and in version order, on the client's callback goroutine. The
// value shares memory with the record's document: never modify it. An
// invalid path reports an *Error matching ErrInvalidPath to the error
// handler and fn is never called. Call the returned function to stop.
func (h *Record) Subscribe(path string, fn func(value json.RawMessage)) (unsubscribe func()) {
	return h.subscribe(path, fn, false)
}

// SubscribeNow is Subscribe that also calls fn at once (on the callback
// goroutine, before any later change) with the current value.
func (h *Record) SubscribeNow(path string, fn func(value json.RawMessage)) (unsubscribe func()) {
	return h.subscribe(path, fn, true)
}

func (h *Record) subscribe(path string, fn func(json.RawMessage), now bool) func() {
	p, err := jsonpath.Parse(path)
	if err != nil {
		h.r.rs.c.reportError(&Error{Code: protocol.CodeInvalidPath, Op: "subscribe", Name: h.r.name, Reason: err.Error()})
		return func() {}
	}
	if fn == nil || h.done.Load() {
		return func() {}
	}
	s := &pathSub{owner: h, path: p, fn: fn}
	s.active.Store(true)
	r := h.r
	r.mu.Lock()
	r.subs = append(slices.Clip(r.subs), s)
	if now {
		v, ok, _ := p.Get(r.data)
		if !ok {
			v = nil
		}
		r.queueLocked(note{sub: s, val: v})
	}
	r.mu.Unlock()
	return func() { r.unsubscribe(s) }
}

func (r *localRecord) unsubscribe(s *pathSub) {
	s.active.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.subs, s); i >= 0 {
		r.subs = slices.Delete(slices.Clone(r.subs), i, i+1)
	}
}

// OnDelete registers fn to run (on the callback goroutine) when the record
// is deleted, by this client or another. After that every handle's writes
// fail with ErrRecordDeleted, and a later Get starts a fresh record.
func (h *Record) OnDelete(fn func()) {
	if fn == nil || h.done.Load() {
		return
	}
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == stGone {
		return
	}
	r.hooks = append(r.hooks, delHook{owner: h, fn: fn})
}

// Discard releases the handle: its subscriptions and OnDelete callbacks
// stop, and its methods return ErrRecordDiscarded. When it was the last
// handle of the record, the client unsubscribes from it on the server and
// writes still queued for it are dropped (their SetWithAck callers get
// ErrRecordDiscarded). A second call does nothing.
func (h *Record) Discard() {
	if !h.done.CompareAndSwap(false, true) {
		return
	}
	r := h.r
	r.mu.Lock()
	subs := r.subs[:0:0]
	for _, s := range r.subs {
		if s.owner == h {
			s.active.Store(false)
		} else {
			subs = append(subs, s)
		}
	}
	r.subs = subs
	r.hooks = slices.DeleteFunc(slices.Clone(r.hooks), func(d delHook) bool { return d.owner == h })
	r.mu.Unlock()
	r.rs.release(r)
}

// Delete deletes the record on the server and returns once that is
// durable. Every handle's OnDelete callbacks then run and the record is
// released; other clients holding it are told.
func (h *Record) Delete(ctx context.Context) error {
	if err := h.check(); err != nil {
		return err
	}
	r := h.r
	r.mu.Lock()
	switch {
	case r.state == stGone:
		err := r.goneErr
		r.mu.Unlock()
		return err
	case r.deleting:
		r.mu.Unlock()
		return ErrRecordDeleted
	}
	r.deleting = true
	r.mu.Unlock()
	_, err := r.rs.request(ctx, "delete", &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionDelete, Name: r.name})
	r.mu.Lock()
	r.deleting = false
	if err == nil {
		r.goneLocked(ErrRecordDeleted, true)
	}
	r.mu.Unlock()
	if err == nil {
		r.rs.remove(r)
	}
	return err
}

// update replaces the whole document with what fn computes from the local
// one, under the record's lock, so concurrent updates of this client
// compose. fn must not call the record's methods. The write remembers fn:
// applied to another document (writes made offline, or one the server
// refused for a concurrent write, under RemoteWins) it is computed again
// from that document, so an operation such as a list addition is not lost.
// uncertain tells fn the write may have landed already (the connection
// dropped before its answer).
func (h *Record) update(ctx context.Context, fn func(doc []byte, uncertain bool) (any, error)) error {
	if err := h.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return wrapErr(fmt.Sprintf("write %q", h.r.name), err)
	}
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.state == stGone:
		return r.goneErr
	case r.deleting:
		return ErrRecordDeleted
	}
	v, err := fn(r.data, false)
	if err != nil {
		return err
	}
	op, err := makeOp(r.name, opSet, "", v)
	if err != nil {
		return err
	}
	name := r.name
	op.from = r.data
	op.transform = func(doc []byte, uncertain bool) ([]byte, error) {
		v, err := fn(doc, uncertain)
		if err != nil {
			return nil, err
		}
		next, err := makeOp(name, opSet, "", v)
		if err != nil {
			return nil, err
		}
		return next.value, nil
	}
	return r.applyLocked(op, true, true)
}
