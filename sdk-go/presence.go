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

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
	"github.com/eddy-realtime/eddy/sdk-go/internal/track"
)

// Presence tells who is online (Client.Presence).
//
// The server counts users, not connections: a user is online from the
// login of their first connection to the close of their last. Anonymous
// connections never appear, and a client is never told about its own user.
// Subscriptions are renewed after a reconnect; changes that happened while
// disconnected are not replayed (query with GetAll or Get for the state).
type Presence struct {
	c *Client

	mu    sync.Mutex
	all   []*presenceSub            // subscribed to everyone; copy-on-write
	users map[string][]*presenceSub // subscribed to one user; copy-on-write

	deliverFn func(user, online []byte)
}

type presenceSub struct {
	fn     func(user string, online bool)
	active atomic.Bool
}

func newPresence(c *Client) *Presence {
	p := &Presence{c: c, users: make(map[string][]*presenceSub)}
	p.deliverFn = p.deliver
	return p
}

// GetAll returns the users online now, sorted, not including this client's
// own user.
func (p *Presence) GetAll(ctx context.Context) ([]string, error) {
	rep, err := p.query(ctx, nil)
	if err != nil {
		return nil, err
	}
	if rep.Names == nil {
		return []string{}, nil
	}
	return rep.Names, nil
}

// Get reports for each of users whether it is online.
func (p *Presence) Get(ctx context.Context, users []string) (map[string]bool, error) {
	if len(users) == 0 {
		return map[string]bool{}, nil
	}
	for _, u := range users {
		if err := validName("presence", u); err != nil {
			return nil, err
		}
	}
	rep, err := p.query(ctx, users)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(users))
	if err := json.Unmarshal(rep.Data, &out); err != nil {
		return nil, fmt.Errorf("%w: presence query result: %w", ErrProtocol, err)
	}
	return out, nil
}

func (p *Presence) query(ctx context.Context, users []string) (track.Reply, error) {
	cn, err := p.c.live()
	if err != nil {
		return track.Reply{}, err
	}
	w, tf := track.NewWaiter()
	m := msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQuery, ID: p.c.tracker.Add(cn, tf)}
	if len(users) > 0 {
		setNames(&m, users)
	}
	if err := cn.Send(&m); err != nil {
		p.c.tracker.Cancel(m.ID)
		return track.Reply{}, p.c.sendErr(err)
	}
	rep, err := w.Wait(ctx)
	switch {
	case err != nil:
		p.c.tracker.Cancel(m.ID)
		return rep, wrapErr("presence query", err)
	case rep.Err != nil:
		if errors.Is(rep.Err, ErrClosed) {
			return rep, rep.Err
		}
		return rep, wrapErr("presence query", ErrConnectionLost)
	case rep.Action == fb.ActionError:
		return rep, &Error{Code: protocol.Code(rep.Code), Reason: rep.Reason, Op: "presence", Name: rep.Name}
	}
	return rep, nil
}

// Subscribe calls fn whenever any user comes online (online true) or goes
// offline (false), until the returned function is called. It does not wait
// for the server; a refusal goes to the error handler. fn runs on the
// client's callback goroutine.
func (p *Presence) Subscribe(fn func(user string, online bool)) (unsubscribe func()) {
	return p.subscribe("", fn)
}

// SubscribeTo is Subscribe for one user.
func (p *Presence) SubscribeTo(user string, fn func(user string, online bool)) (unsubscribe func()) {
	if err := validName("presence", user); err != nil {
		p.c.reportError(err)
		return func() {}
	}
	return p.subscribe(user, fn)
}

// subscribe adds a local subscription ("" user: everyone) and subscribes on
// the server when it is the first for that user.
func (p *Presence) subscribe(user string, fn func(string, bool)) func() {
	s := &presenceSub{fn: fn}
	s.active.Store(true)
	p.mu.Lock()
	var first bool
	if user == "" {
		first = len(p.all) == 0
		p.all = append(slices.Clip(p.all), s)
	} else {
		first = len(p.users[user]) == 0
		p.users[user] = append(slices.Clip(p.users[user]), s)
	}
	if first {
		p.sendLocked(fb.ActionSubscribe, user)
	}
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { p.unsubscribe(user, s) }) }
}

func (p *Presence) unsubscribe(user string, s *presenceSub) {
	s.active.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	var last bool
	if user == "" {
		p.all = slices.DeleteFunc(slices.Clone(p.all), func(x *presenceSub) bool { return x == s })
		last = len(p.all) == 0
	} else {
		subs := slices.DeleteFunc(slices.Clone(p.users[user]), func(x *presenceSub) bool { return x == s })
		if len(subs) == 0 {
			delete(p.users, user)
			last = true
		} else {
			p.users[user] = subs
		}
	}
	if last {
		p.sendLocked(fb.ActionUnsubscribe, user)
	}
}

// sendLocked sends a Subscribe or Unsubscribe for user ("" everyone) on the
// live connection, if any; the answer is awaited in the background.
func (p *Presence) sendLocked(action fb.Action, user string) {
	cn := p.c.cur.Load()
	if cn == nil {
		return // renewed (or forgotten) with the reconnect
	}
	p.sendOn(cn, action, user)
}

func (p *Presence) sendOn(cn *conn.Conn, action fb.Action, user string) {
	op := "presence subscribe"
	if action == fb.ActionUnsubscribe {
		op = "presence unsubscribe"
	}
	id := p.c.tracker.Add(cn, func(v *msg.View, err error) {
		if err == nil && v.Action() == fb.ActionError {
			p.c.reportError(&Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: op, Name: string(v.Name())})
		}
	})
	m := msg.Msg{Topic: fb.TopicPresence, Action: action, ID: id, Name: user}
	if cn.Send(&m) != nil {
		p.c.tracker.Cancel(id)
	}
}

// onMessage handles Join and Leave, and the answers to queries (reader
// goroutine).
func (p *Presence) onMessage(_ *conn.Conn, v *msg.View) {
	switch v.Action() {
	case fb.ActionQueryResult:
		p.c.tracker.Resolve(v.Id(), v)
	case fb.ActionJoin, fb.ActionLeave:
		online := onlineFlag[0:1]
		if v.Action() == fb.ActionLeave {
			online = onlineFlag[1:2]
		}
		if !p.c.disp.deliver(p.deliverFn, v.User(), online) {
			p.c.opts.logger.Debug("eddy: presence change dropped", "user", msg.UnsafeString(v.User()))
		}
	default:
		p.c.opts.logger.Debug("eddy: unexpected presence message", "action", v.Action())
	}
}

var onlineFlag = []byte{1, 0}

// deliver runs the subscribers of everyone and of user (callback goroutine).
func (p *Presence) deliver(user, online []byte) {
	p.mu.Lock()
	all, subs := p.all, p.users[string(user)]
	p.mu.Unlock()
	name, on := string(user), online[0] == 1
	for _, s := range all {
		if s.active.Load() {
			s.fn(name, on)
		}
	}
	for _, s := range subs {
		if s.active.Load() {
			s.fn(name, on)
		}
	}
}

// resubscribe renews the subscriptions on a new connection: everyone with
// one message, the named users with another.
func (p *Presence) resubscribe(cn *conn.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.all) > 0 {
		p.sendOn(cn, fb.ActionSubscribe, "")
	}
	if len(p.users) == 0 {
		return
	}
	users := make([]string, 0, len(p.users))
	for u := range p.users {
		users = append(users, u)
	}
	sort.Strings(users)
	p.c.renewNames(cn, fb.TopicPresence, "presence subscribe", users, nil)
}
