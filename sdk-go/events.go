package eddy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
	"github.com/eddy-realtime/eddy/sdk-go/internal/track"
)

// Events is the client's publish/subscribe API (Client.Event).
//
// Several local subscriptions to one name share one server subscription:
// the first sends Subscribe, the last Unsubscribe. Callbacks run on the
// client's callback goroutine in arrival order. The server never sends a
// client its own events; Emit hands them to this client's subscribers of the
// name itself.
type Events struct {
	c *Client

	mu    sync.RWMutex
	names map[string]*eventEntry

	deliverFn func(name, data []byte) // e.deliver, bound once

	listen listening // Listen and Unlisten (listen.go)
}

// eventEntry is one subscribed name.
type eventEntry struct {
	name string
	subs []*Subscription // copy-on-write: readers take the slice under RLock
	// op is the Subscribe in flight for this name (nil once answered, or
	// when none was sent because the client was disconnected).
	op *subscribeOp
	// refused: the server refused this name; no Unsubscribe is owed.
	refused bool
}

// subscribeOp is one Subscribe request that callers wait on.
type subscribeOp struct {
	names []string
	done  chan struct{}
	err   error // set before done closes
}

// Subscription is one local subscription to one or more event names.
type Subscription struct {
	ev     *Events
	names  []string
	fn     func(data []byte)
	fnName func(name string, data []byte)
	active atomic.Bool
}

func newEvents(c *Client) *Events {
	e := &Events{c: c, names: make(map[string]*eventEntry)}
	e.listen.c, e.listen.topic = c, fb.TopicEvent
	e.deliverFn = e.deliver
	return e
}

// Names returns the event names this subscription covers.
func (s *Subscription) Names() []string { return slices.Clone(s.names) }

func checkName(op, name string) error {
	if name == "" || !utf8.ValidString(name) {
		return &Error{Code: protocol.CodeInvalidName, Op: op, Name: name, Reason: "event name is empty or not valid UTF-8"}
	}
	return nil
}

// checkEmit refuses what the server would: a bad name, or data that is not
// one JSON value.
func checkEmit(name string, data []byte) error {
	if err := checkName("emit", name); err != nil {
		return err
	}
	if len(data) > 0 {
		if err := jsonpath.Valid(data); err != nil {
			return &Error{Code: protocol.CodeInvalidData, Op: "emit", Name: name, Reason: err.Error()}
		}
	}
	return nil
}

// Subscribe calls fn with the data of every event published to name until
// the subscription is cancelled. It returns once the server acknowledged
// the subscription, waiting at most the request timeout (WithRequestTimeout);
// see SubscribeCtx.
//
// data is valid only until fn returns; copy it to keep it. fn runs on the
// client's callback goroutine.
func (e *Events) Subscribe(name string, fn func(data []byte)) (*Subscription, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.c.opts.requestTimeout)
	defer cancel()
	return e.SubscribeCtx(ctx, name, fn)
}

// SubscribeCtx is Subscribe bounded by ctx instead of the request timeout.
//
// If the name is already subscribed on this client, no message is sent and
// the new subscription shares the existing one. While the client is
// reconnecting, the subscription is recorded and sent once connected; it
// returns at once. If the connection drops before the server answers, the
// subscription is kept and renewed on reconnect. A refusal is an *Error
// (errors.Is(err, ErrPermissionDenied), ...) and nothing stays subscribed.
func (e *Events) SubscribeCtx(ctx context.Context, name string, fn func(data []byte)) (*Subscription, error) {
	if err := checkName("subscribe", name); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, errors.New("eddy: subscribe: nil callback")
	}
	return e.subscribe(ctx, []string{name}, &Subscription{ev: e, names: []string{name}, fn: fn})
}

// SubscribeMany subscribes fn to every name in names with one Subscribe
// message and one acknowledgement; fn gets the name each event came on. It
// is all or nothing: if the server refuses any name, nothing this call
// subscribed stays subscribed and the error names the refused one. The
// returned Subscription covers all names; its Unsubscribe sends one message.
// Duplicate names count once. Otherwise it behaves like SubscribeCtx.
func (e *Events) SubscribeMany(ctx context.Context, names []string, fn func(name string, data []byte)) (*Subscription, error) {
	if len(names) == 0 {
		return nil, errors.New("eddy: subscribe: no names")
	}
	if fn == nil {
		return nil, errors.New("eddy: subscribe: nil callback")
	}
	uniq := make([]string, 0, len(names))
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		if err := checkName("subscribe", n); err != nil {
			return nil, err
		}
		if _, dup := seen[n]; !dup {
			seen[n] = struct{}{}
			uniq = append(uniq, n)
		}
	}
	return e.subscribe(ctx, uniq, &Subscription{ev: e, names: uniq, fnName: fn})
}

func (e *Events) subscribe(ctx context.Context, names []string, s *Subscription) (*Subscription, error) {
	s.active.Store(true)
	e.mu.Lock()
	if _, err := e.c.live(); errors.Is(err, ErrClosed) {
		e.mu.Unlock()
		return nil, err
	}
	var fresh []string
	var waits []*subscribeOp
	for _, n := range names {
		ent := e.names[n]
		switch {
		case ent == nil:
			ent = &eventEntry{name: n}
			e.names[n] = ent
			fresh = append(fresh, n)
		case ent.op != nil:
			waits = append(waits, ent.op)
		case ent.refused: // refused on a resubscribe: ask again
			fresh = append(fresh, n)
		}
		ent.subs = append(slices.Clip(ent.subs), s)
	}
	if len(fresh) > 0 {
		if cn := e.c.cur.Load(); cn != nil {
			op := &subscribeOp{names: fresh, done: make(chan struct{})}
			id := e.c.tracker.Add(cn, func(v *msg.View, err error) { e.answered(op, v, err) })
			m := msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: id}
			setNames(&m, fresh)
			switch err := cn.Send(&m); {
			case err == nil:
				for _, n := range fresh {
					e.names[n].op = op
				}
				waits = append(waits, op)
			case errors.Is(err, conn.ErrClosed):
				// The connection is ending: the reconnect renews the names.
				e.c.tracker.Cancel(id)
			default:
				e.c.tracker.Cancel(id)
				e.removeLocked(s)
				e.mu.Unlock()
				return nil, e.c.sendErr(err)
			}
		}
	}
	e.mu.Unlock()
	for _, op := range waits {
		select {
		case <-op.done:
			if op.err != nil {
				e.cancel(s)
				return nil, op.err
			}
		case <-ctx.Done():
			e.cancel(s)
			return nil, wrapErr("subscribe", ctx.Err())
		}
	}
	return s, nil
}

func setNames(m *msg.Msg, names []string) {
	if len(names) == 1 {
		m.Name = names[0]
	} else {
		m.Names = names
	}
}

// answered resolves a Subscribe (reader or supervisor goroutine). A lost
// connection counts as success: the reconnect renews the names.
func (e *Events) answered(op *subscribeOp, v *msg.View, err error) {
	refusedFrom := len(op.names)
	if errors.Is(err, ErrClosed) {
		op.err = ErrClosed
	} else if err == nil && v.Action() == fb.ActionError {
		name := string(v.Name())
		op.err = &Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: "subscribe", Name: name}
		refusedFrom = 0
		if i := slices.Index(op.names, name); i >= 0 {
			refusedFrom = i // names before it stay subscribed on the server
		}
	}
	e.mu.Lock()
	for i, n := range op.names {
		if ent := e.names[n]; ent != nil && ent.op == op {
			ent.op = nil
			ent.refused = i >= refusedFrom
		}
	}
	e.mu.Unlock()
	close(op.done)
}

// removeLocked takes s out of every entry and returns the names left with
// no subscriber that the server holds (or may hold) a subscription for.
func (e *Events) removeLocked(s *Subscription) []string {
	s.active.Store(false)
	var gone []string
	for _, n := range s.names {
		ent := e.names[n]
		if ent == nil {
			continue
		}
		i := slices.Index(ent.subs, s)
		if i < 0 {
			continue
		}
		ent.subs = slices.Delete(slices.Clone(ent.subs), i, i+1)
		if len(ent.subs) == 0 {
			delete(e.names, n)
			if !ent.refused {
				gone = append(gone, n)
			}
		}
	}
	return gone
}

// cancel undoes a failed or abandoned subscribe, unsubscribing on the
// server whatever it may hold for names nobody else wants.
func (e *Events) cancel(s *Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if gone := e.removeLocked(s); len(gone) > 0 {
		if cn := e.c.cur.Load(); cn != nil {
			id := e.c.tracker.Add(cn, e.backgroundAnswer("unsubscribe"))
			m := msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnsubscribe, ID: id}
			setNames(&m, gone)
			if cn.Send(&m) != nil {
				e.c.tracker.Cancel(id)
			}
		}
	}
}

// backgroundAnswer handles the reply to a request nobody waits for: errors
// other than NotSubscribed go to the error handler.
func (e *Events) backgroundAnswer(op string) track.Func {
	return func(v *msg.View, err error) {
		if err != nil || v.Action() != fb.ActionError || protocol.Code(v.Code()) == protocol.CodeNotSubscribed {
			return
		}
		e.c.reportError(&Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: op, Name: string(v.Name())})
	}
}

// Unsubscribe cancels the subscription, waiting at most the request
// timeout for the server; see UnsubscribeCtx.
func (s *Subscription) Unsubscribe() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.ev.c.opts.requestTimeout)
	defer cancel()
	return s.UnsubscribeCtx(ctx)
}

// UnsubscribeCtx cancels the subscription. Its callback is not started
// again once this is called (a call already running finishes). When it
// was the last local subscription of a name, one Unsubscribe for all such
// names goes to the server and this waits for the answer; otherwise, or
// while disconnected, nothing is sent. A second call does nothing.
func (s *Subscription) UnsubscribeCtx(ctx context.Context) error {
	e := s.ev
	if !s.active.Load() {
		return nil
	}
	e.mu.Lock()
	if !s.active.Load() {
		e.mu.Unlock()
		return nil
	}
	gone := e.removeLocked(s)
	var (
		w  *track.Waiter
		id uint64
	)
	if len(gone) > 0 {
		if cn := e.c.cur.Load(); cn != nil {
			var fn track.Func
			w, fn = track.NewWaiter()
			id = e.c.tracker.Add(cn, fn)
			m := msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnsubscribe, ID: id}
			setNames(&m, gone)
			if err := cn.Send(&m); err != nil {
				e.c.tracker.Cancel(id)
				w = nil
			}
		}
	}
	e.mu.Unlock()
	if w == nil {
		return nil
	}
	r, err := w.Wait(ctx)
	if err != nil {
		e.c.tracker.Cancel(id)
		return wrapErr("unsubscribe", err)
	}
	if r.Err != nil || r.Action != fb.ActionError { // a lost connection forgets subscriptions too
		return nil
	}
	return &Error{Code: protocol.Code(r.Code), Reason: r.Reason, Op: "unsubscribe", Name: r.Name}
}

// Emit publishes data (JSON bytes; nil for none) to name. Data that is not
// one JSON value is refused with an *Error matching ErrInvalidData, and
// nothing is sent or delivered (the server refuses it too). It queues the
// message and returns without waiting for the server; a refusal (for
// example by permissions) reaches the error handler. While the client is
// reconnecting it returns ErrNotConnected and nothing happens, locally or
// remotely.
//
// On success the event is also handed to this client's own subscribers of
// name (the server never echoes an event to its sender): it is queued for
// them before Emit returns, so one goroutine's Emits reach local callbacks
// in order. Emit may wait while the outbound queue is full.
func (e *Events) Emit(name string, data []byte) error {
	if err := checkEmit(name, data); err != nil {
		return err
	}
	cn, err := e.c.live()
	if err != nil {
		return err
	}
	m := msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: name, Data: data}
	if err := cn.SendWait(&m); err != nil {
		return e.c.sendErr(err)
	}
	e.deliverLocal(name, data)
	return nil
}

// EmitJSON marshals v with encoding/json and emits it.
func (e *Events) EmitJSON(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return wrapErr(fmt.Sprintf("emit %q", name), err)
	}
	return e.Emit(name, data)
}

// EmitAck is Emit that waits for the server to accept the event (an Ack, or
// an *Error such as ErrPermissionDenied). Local subscribers get the event
// once it is sent, as with Emit. If the connection drops before the answer
// it returns ErrConnectionLost: the event may or may not have been
// published.
func (e *Events) EmitAck(ctx context.Context, name string, data []byte) error {
	if err := checkEmit(name, data); err != nil {
		return err
	}
	cn, err := e.c.live()
	if err != nil {
		return err
	}
	w, fn := track.NewWaiter()
	id := e.c.tracker.Add(cn, fn)
	m := msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: name, Data: data, ID: id}
	if err := cn.SendWait(&m); err != nil {
		e.c.tracker.Cancel(id)
		return e.c.sendErr(err)
	}
	e.deliverLocal(name, data)
	r, err := w.Wait(ctx)
	switch {
	case err != nil:
		e.c.tracker.Cancel(id)
		return wrapErr(fmt.Sprintf("emit %q", name), err)
	case r.Err != nil:
		return r.Err
	case r.Action == fb.ActionError:
		return &Error{Code: protocol.Code(r.Code), Reason: r.Reason, Op: "emit", Name: name}
	}
	return nil
}

// deliverLocal queues an own event for local subscribers of name, if any.
func (e *Events) deliverLocal(name string, data []byte) {
	e.mu.RLock()
	_, ok := e.names[name]
	e.mu.RUnlock()
	// The dispatcher copies name, so aliasing the string's bytes is safe.
	if ok && !e.c.disp.deliver(e.deliverFn, unsafe.Slice(unsafe.StringData(name), len(name)), data) {
		e.c.opts.logger.Debug("eddy: local event dropped", "name", name)
	}
}

// onMessage handles Event messages that are not replies (reader goroutine).
func (e *Events) onMessage(cn *conn.Conn, v *msg.View) {
	if a := v.Action(); a == fb.ActionSubscriptionFound || a == fb.ActionSubscriptionRemoved {
		e.listen.onListen(cn, v)
		return
	}
	if v.Action() != fb.ActionEmit {
		e.c.opts.logger.Debug("eddy: unexpected event message", "action", v.Action())
		return
	}
	name := v.Name()
	e.mu.RLock()
	_, ok := e.names[string(name)]
	e.mu.RUnlock()
	if ok && !e.c.disp.deliver(e.deliverFn, name, v.DataBytes()) {
		e.c.opts.logger.Debug("eddy: event dropped", "name", msg.UnsafeString(name))
	}
}

// deliver runs the callbacks of name's current subscribers (callback
// goroutine).
func (e *Events) deliver(name, data []byte) {
	e.mu.RLock()
	ent := e.names[string(name)]
	var subs []*Subscription
	if ent != nil {
		subs = ent.subs
	}
	e.mu.RUnlock()
	for _, s := range subs {
		if !s.active.Load() {
			continue
		}
		if s.fn != nil {
			s.fn(data)
		} else {
			s.fnName(ent.name, data)
		}
	}
}

// resubscribe renews every subscribed name on a new connection with one
// bulk Subscribe (more only if the names exceed the frame limit). Refusals
// go to the error handler; the names after a refused one are sent again.
func (e *Events) resubscribe(cn *conn.Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.names) == 0 {
		return
	}
	names := make([]string, 0, len(e.names))
	for n, ent := range e.names {
		ent.op, ent.refused = nil, false
		names = append(names, n)
	}
	sort.Strings(names)
	e.c.renewNames(cn, fb.TopicEvent, "resubscribe", names, func(name string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if ent := e.names[name]; ent != nil {
			ent.refused = true
		}
	})
}
