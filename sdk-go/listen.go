package eddy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
	"github.com/eddy-realtime/eddy/sdk-go/internal/track"
)

// listening is the listening state of one topic (Events.listen,
// Records.listen): the patterns this client listens to and the names it
// provides under each.
type listening struct {
	c        *Client
	topic    fb.Topic
	mu       sync.Mutex
	patterns map[string]*eventListener
	// cn is the connection the listens were last sent on (by relisten):
	// questions asked on an older one are stale.
	cn *conn.Conn
}

type eventListener struct {
	pattern   string
	onFound   func(match string, r *ListenResponse)
	onRemoved func(match string)
	provided  map[string]struct{} // names accepted; under listening.mu
	// asked holds the questions on ls.cn not answered yet; under
	// listening.mu.
	asked  map[*ListenResponse]struct{}
	active atomic.Bool
}

// ListenResponse answers the server's question whether this client
// provides a name (see Events.Listen). Answer once, now or later, from any
// goroutine.
type ListenResponse struct {
	ls       *listening
	l        *eventListener
	cn       *conn.Conn // the answer goes where the question came from
	name     string
	answered atomic.Bool
	// Under listening.mu, once the question went stale (a reconnect or
	// Unlisten) unanswered: lateAccept is set by an Accept made after that,
	// settled once the callback queued then has run.
	lateAccept, settled bool
}

// Listen asks the server to tell this client when names matching pattern
// gain their first subscriber, so it can provide them (publish their
// events). pattern is a Go regular expression that must match the whole
// name ("prices/.*").
//
// onFound(match, r) runs when a matching name has subscribers and this
// client is asked to provide it: answer with r.Accept() to provide it or
// r.Reject() to let another listener have it. onRemoved(match) runs when
// this client should stop providing a name it accepted: the last
// subscriber left, this client unlistened, or the connection dropped (the
// server asks again after the reconnect). Both run on the client's
// callback goroutine; onRemoved may be nil.
//
// Every Accept is followed by exactly one onRemoved for its name, whatever
// Accept returned: an Accept that comes too late, because the connection
// dropped or the pattern was unlistened after the question, returns an
// error matching ErrConnectionLost and onRemoved still follows, so a
// provider that started publishing in onFound is always told to stop. When
// Accept is called from onFound itself, that onRemoved runs before the
// onFound of the question asked again after a reconnect.
//
// Listen returns once the server acknowledged, waiting at most the request
// timeout; an invalid pattern is an *Error with code InvalidPattern, a
// second Listen to the same pattern one with AlreadyListening. While the
// client is reconnecting the pattern is recorded and sent once connected.
func (e *Events) Listen(pattern string, onFound func(match string, r *ListenResponse), onRemoved func(match string)) error {
	return e.listen.listen(pattern, onFound, onRemoved)
}

// Unlisten stops listening to pattern. onRemoved runs for every name this
// client was providing under it. Unlistening a pattern this client does
// not listen to is an *Error with code NotListening.
func (e *Events) Unlisten(pattern string) error { return e.listen.unlisten(pattern) }

func (ls *listening) listen(pattern string, onFound func(match string, r *ListenResponse), onRemoved func(match string)) error {
	if err := validName("listen", pattern); err != nil {
		return err
	}
	if onFound == nil {
		return errors.New("eddy: listen: nil callback")
	}
	if onRemoved == nil {
		onRemoved = func(string) {}
	}
	ls.mu.Lock()
	if _, dup := ls.patterns[pattern]; dup {
		ls.mu.Unlock()
		return &Error{Code: protocol.CodeAlreadyListening, Op: "listen", Name: pattern}
	}
	cn, err := ls.c.live()
	if errors.Is(err, ErrClosed) {
		ls.mu.Unlock()
		return err
	}
	l := &eventListener{pattern: pattern, onFound: onFound, onRemoved: onRemoved, provided: make(map[string]struct{})}
	l.active.Store(true)
	if ls.patterns == nil {
		ls.patterns = make(map[string]*eventListener)
	}
	ls.patterns[pattern] = l
	if cn == nil {
		ls.mu.Unlock()
		return nil
	}
	w, tf := track.NewWaiter()
	id := ls.c.tracker.Add(cn, tf)
	err = cn.Send(&msg.Msg{Topic: ls.topic, Action: fb.ActionListen, ID: id, Name: pattern})
	ls.mu.Unlock()
	if err != nil {
		ls.c.tracker.Cancel(id)
		if errors.Is(err, conn.ErrClosed) {
			return nil // the reconnect listens again
		}
		ls.dropListener(l)
		return ls.c.sendErr(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ls.c.opts.requestTimeout)
	defer cancel()
	rep, err := w.Wait(ctx)
	switch {
	case err != nil:
		ls.c.tracker.Cancel(id)
		return wrapErr(fmt.Sprintf("listen %q", pattern), err)
	case rep.Err == nil && rep.Action == fb.ActionError:
		ls.dropListener(l)
		return &Error{Code: protocol.Code(rep.Code), Reason: rep.Reason, Op: "listen", Name: pattern}
	}
	return nil
}

func (ls *listening) unlisten(pattern string) error {
	ls.mu.Lock()
	l := ls.patterns[pattern]
	if l == nil {
		ls.mu.Unlock()
		return &Error{Code: protocol.CodeNotListening, Op: "unlisten", Name: pattern}
	}
	ls.removeListenerLocked(l)
	cn := ls.c.cur.Load()
	if cn == nil {
		ls.mu.Unlock()
		return nil
	}
	w, tf := track.NewWaiter()
	id := ls.c.tracker.Add(cn, tf)
	err := cn.Send(&msg.Msg{Topic: ls.topic, Action: fb.ActionUnlisten, ID: id, Name: pattern})
	ls.mu.Unlock()
	if err != nil {
		ls.c.tracker.Cancel(id)
		return nil // the connection is ending, and the server forgets with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), ls.c.opts.requestTimeout)
	defer cancel()
	rep, err := w.Wait(ctx)
	switch {
	case err != nil:
		ls.c.tracker.Cancel(id)
		return wrapErr(fmt.Sprintf("unlisten %q", pattern), err)
	case rep.Err == nil && rep.Action == fb.ActionError:
		return &Error{Code: protocol.Code(rep.Code), Reason: rep.Reason, Op: "unlisten", Name: pattern}
	}
	return nil
}

// dropListener undoes a refused Listen.
func (ls *listening) dropListener(l *eventListener) {
	ls.mu.Lock()
	if ls.patterns[l.pattern] == l {
		ls.removeListenerLocked(l)
	}
	ls.mu.Unlock()
}

// removeListenerLocked forgets l and queues onRemoved for what it provided.
func (ls *listening) removeListenerLocked(l *eventListener) {
	l.active.Store(false)
	delete(ls.patterns, l.pattern)
	ls.removedLocked(l, nil)
}

// removedLocked queues onRemoved for every name l provides and forgets them,
// and settles its unanswered questions but those asked on keep: they went
// stale.
func (ls *listening) removedLocked(l *eventListener, keep *conn.Conn) {
	for name := range l.provided {
		ls.c.disp.call(func() { l.onRemoved(name) })
	}
	clear(l.provided)
	for r := range l.asked {
		if r.cn == keep {
			continue
		}
		delete(l.asked, r)
		// Queued behind the question's onFound: an Accept made in it is
		// answered with onRemoved here, before anything asked later.
		ls.c.disp.call(func() {
			ls.mu.Lock()
			late := r.lateAccept
			r.settled = true
			ls.mu.Unlock()
			if late {
				l.onRemoved(r.name)
			}
		})
	}
}

// onListen handles SubscriptionFound and SubscriptionRemoved (reader
// goroutine).
func (ls *listening) onListen(cn *conn.Conn, v *msg.View) {
	name, pattern := string(v.Name()), string(v.Path())
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.patterns[pattern]
	if l == nil {
		return // unlistened meanwhile; the server hands the name on
	}
	if v.Action() == fb.ActionSubscriptionFound {
		r := &ListenResponse{ls: ls, l: l, cn: cn, name: name}
		if l.asked == nil {
			l.asked = make(map[*ListenResponse]struct{})
		}
		l.asked[r] = struct{}{}
		ls.c.disp.call(func() { l.onFound(name, r) })
		return
	}
	if _, ok := l.provided[name]; ok {
		delete(l.provided, name)
		ls.c.disp.call(func() { l.onRemoved(name) })
	}
	for r := range l.asked {
		if r.name == name {
			delete(l.asked, r) // the server no longer waits for the answer
		}
	}
}

// Name is the name this client is asked to provide.
func (r *ListenResponse) Name() string { return r.name }

// Accept tells the server this client provides the name; it publishes the
// name's events until onRemoved runs for it.
func (r *ListenResponse) Accept() error {
	if r.answered.Swap(true) {
		return ErrAlreadyAnswered
	}
	ls := r.ls
	ls.mu.Lock()
	if !r.l.active.Load() || r.cn != ls.cn {
		// Too late: the question went stale. onRemoved follows all the
		// same, from the callback removedLocked queued if it has not run.
		if r.settled {
			ls.c.disp.call(func() { r.l.onRemoved(r.name) })
		} else {
			r.lateAccept = true
		}
		ls.mu.Unlock()
		return wrapErr(fmt.Sprintf("listen accept %q", r.name), ErrConnectionLost)
	}
	delete(r.l.asked, r)
	r.l.provided[r.name] = struct{}{}
	err := r.cn.Send(&msg.Msg{Topic: ls.topic, Action: fb.ActionListenAccept, Name: r.name, Path: r.l.pattern})
	if err != nil && !errors.Is(err, conn.ErrClosed) {
		delete(r.l.provided, r.name)
	}
	// On a connection that is ending the name stays provided: relisten
	// queues its onRemoved after the reconnect.
	ls.mu.Unlock()
	return r.sendErr(err)
}

// Reject tells the server this client does not provide the name; another
// listener is asked.
func (r *ListenResponse) Reject() error {
	if r.answered.Swap(true) {
		return ErrAlreadyAnswered
	}
	r.ls.mu.Lock()
	delete(r.l.asked, r)
	r.ls.mu.Unlock()
	return r.sendErr(r.cn.Send(&msg.Msg{Topic: r.ls.topic, Action: fb.ActionListenReject, Name: r.name, Path: r.l.pattern}))
}

func (r *ListenResponse) sendErr(err error) error {
	if errors.Is(err, conn.ErrClosed) {
		return wrapErr(fmt.Sprintf("listen answer %q", r.name), ErrConnectionLost)
	}
	return publicError(err)
}

// relisten registers every pattern again on a new connection. The server
// forgot what this client provided with the old connection, so onRemoved
// runs for those names first; the server asks about them again.
func (ls *listening) relisten(cn *conn.Conn) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.cn = cn
	patterns := make([]string, 0, len(ls.patterns))
	for p, l := range ls.patterns {
		ls.removedLocked(l, cn)
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, pattern := range patterns {
		l := ls.patterns[pattern]
		id := ls.c.tracker.Add(cn, func(v *msg.View, err error) {
			if err != nil || v.Action() != fb.ActionError {
				return
			}
			ls.dropListener(l)
			ls.c.reportError(&Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: "listen", Name: pattern})
		})
		if cn.Send(&msg.Msg{Topic: ls.topic, Action: fb.ActionListen, ID: id, Name: pattern}) != nil {
			ls.c.tracker.Cancel(id)
			return
		}
	}
}
