// Package presence tracks which users are online and tells subscribers
// when a user comes online (Join) or goes offline (Leave).
//
// Presence counts users, not connections: a user with three connections is
// online until the last one closes, and Join and Leave fire once per
// transition. Anonymous users ("") are never counted. A connection is never
// told about its own user.
//
// # Cluster mode
//
// In a cluster a user is online while any node has a connection of it. A
// Bus set with SetBus is told when this node's first connection of a user
// opens and its last closes; Remote is told when another node has the
// user or no longer has it. An entry counts its local connections and the
// other nodes holding the user, and Join and Leave fire when the sum
// leaves or reaches zero, so subscribers on every node hear each user's
// transition once, and GetAll is answered from memory.
//
// # Layout
//
// Users live in shard.Count shards (map user → entry with its connection
// count and the peers subscribed to that user), each behind its own mutex.
// Peers subscribed to everyone are kept in one set (engine/internal/
// subset: O(1) add and remove at any size) read without a lock; each
// user's subscribers are a set too. A peer subscribed to everyone is not kept in any user's
// list, so it gets each notification once.
//
// # Concurrency
//
// Table methods are safe from any goroutine, but the methods naming a Peer
// (Join, Subscribe…, Unsubscribe…, Close) must not run concurrently for the
// same Peer: the session calls them from its loop. Notifications are sent
// while holding the user's shard lock, so a user's Join and Leave reach
// every subscriber in the order they happened. Conn.Send must not block.
//
// A peer switching between everyone and its named users (SubscribeAll,
// UnsubscribeAll) moves between the everyone list and several users'
// lists, which no single shard lock covers. The switch holds the table's
// route lock exclusively; notifications hold it shared, so each sees the
// peer on exactly one route.
//
// Lock order: route (shared or exclusive) → user shard → Conn; the
// everyone-list mutex is taken alone.
//
// # Invariants
//
//  1. An entry exists only while its user has connections or subscribers;
//     Close leaves no trace of a peer.
//  2. A peer subscribed to everyone is in the everyone list and in no
//     user's list; otherwise it is in the list of each user it subscribed
//     to. A notification never sees a peer between the two, so every
//     subscriber gets each Join and Leave exactly once.
package presence

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/internal/shard"
	"github.com/eddy-realtime/eddy/engine/internal/subset"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Conn is where a Peer's notifications go; netloop.Conn satisfies it.
type Conn interface {
	Send(payload []byte) error
}

// Table is the presence registry.
type Table struct {
	bus   Bus
	route sync.RWMutex // shared: notifying; exclusive: a peer switching routes
	users [shard.Count]userShard
	all   struct {
		mu  sync.Mutex         // serialises changes
		set *subset.Set[*Peer] // read without a lock
		n   atomic.Int64       // members
	}
}

type userShard struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	conns  int                // open connections of the user on this node
	remote int                // other nodes with connections of the user
	subs   *subset.Set[*Peer] // peers subscribed to this user (and not to everyone); nil when none
}

func (e *entry) watched() bool { return e.subs != nil }

func (e *entry) online() bool { return e.conns > 0 || e.remote > 0 }

// Bus tells the other nodes of a cluster which users this node has.
type Bus interface {
	// Local is told, under the user's shard lock, that this node's first
	// connection of user opened (on) or its last closed. It must not block
	// or call back into the table.
	Local(user string, on bool)
}

// SetBus connects the table to a cluster; call it before use.
func (t *Table) SetBus(b Bus) { t.bus = b }

// Remote records that another node gained (on) or lost its connections
// of user; Join or Leave fire when that makes the user online or offline.
// The caller (the cluster directory) reports each node's transitions
// once and in order.
func (t *Table) Remote(user string, on bool) {
	if user == "" {
		return
	}
	t.route.RLock()
	defer t.route.RUnlock()
	sh := &t.users[shard.Index(user)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[user]
	if e == nil {
		if !on {
			return
		}
		e = &entry{}
		sh.m[user] = e
	}
	was := e.online()
	if on {
		e.remote++
	} else if e.remote > 0 {
		e.remote--
	}
	switch now := e.online(); {
	case now && !was:
		t.notifyLocked(e, user, fb.ActionJoin)
	case !now && was:
		t.notifyLocked(e, user, fb.ActionLeave)
	}
	if !e.online() && !e.watched() {
		delete(sh.m, user)
	}
}

// New returns an empty table.
func New() *Table {
	t := &Table{}
	t.all.set = subset.Empty[*Peer]()
	for i := range t.users {
		t.users[i].m = make(map[string]*entry)
	}
	return t
}

// Peer is one connection's handle. Its fields are owned by the caller of
// the Peer methods (the session's loop).
type Peer struct {
	conn   Conn
	user   string
	joined bool
	all    bool
	users  map[string]struct{}
}

// NewPeer returns a handle for a connection of user ("" when anonymous).
func NewPeer(conn Conn, user string) *Peer { return &Peer{conn: conn, user: user} }

// Watching reports whether p is subscribed to user, or with "" to
// everyone. Same goroutine rules as the other Peer methods.
func (p *Peer) Watching(user string) bool {
	if user == "" {
		return p.all
	}
	_, ok := p.users[user]
	return ok
}

// Join counts p's connection for its user; the user's first connection
// tells subscribers it joined. Anonymous peers and second calls do nothing.
func (t *Table) Join(p *Peer) {
	if p.user == "" || p.joined {
		return
	}
	p.joined = true
	t.route.RLock()
	defer t.route.RUnlock()
	sh := &t.users[shard.Index(p.user)]
	sh.mu.Lock()
	e := sh.m[p.user]
	if e == nil {
		e = &entry{}
		sh.m[p.user] = e
	}
	e.conns++
	if e.conns == 1 {
		if e.remote == 0 {
			t.notifyLocked(e, p.user, fb.ActionJoin)
		}
		if t.bus != nil {
			t.bus.Local(p.user, true)
		}
	}
	sh.mu.Unlock()
}

// leave undoes Join; the user's last connection tells subscribers it left.
func (t *Table) leave(p *Peer) {
	if !p.joined {
		return
	}
	p.joined = false
	t.route.RLock()
	defer t.route.RUnlock()
	sh := &t.users[shard.Index(p.user)]
	sh.mu.Lock()
	if e := sh.m[p.user]; e != nil {
		e.conns--
		if e.conns == 0 {
			if e.remote == 0 {
				t.notifyLocked(e, p.user, fb.ActionLeave)
			}
			if t.bus != nil {
				t.bus.Local(p.user, false)
			}
			if !e.online() && !e.watched() {
				delete(sh.m, p.user)
			}
		}
	}
	sh.mu.Unlock()
}

// notifyLocked sends Join or Leave for user to everyone subscribed, except
// connections of user itself.
func (t *Table) notifyLocked(e *entry, user string, action fb.Action) {
	if !e.watched() && t.all.n.Load() == 0 {
		return
	}
	bp := bufs.Get().(*[]byte)
	*bp = msg.Append((*bp)[:0], &msg.Msg{Topic: fb.TopicPresence, Action: action, User: user})
	for _, set := range [2]*subset.Set[*Peer]{t.all.set, e.subs} {
		if set == nil {
			continue
		}
		v := set.View()
		for i := 0; i < v.Len(); i++ {
			if p, ok := v.At(i); ok && p.user != user {
				_ = p.conn.Send(*bp)
			}
		}
	}
	bufs.Put(bp)
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// SubscribeAll subscribes p to every user's Join and Leave. It reports
// false when p already was.
func (t *Table) SubscribeAll(p *Peer) bool {
	if p.all {
		return false
	}
	p.all = true
	if len(p.users) > 0 {
		t.route.Lock()
		defer t.route.Unlock()
	}
	t.all.mu.Lock()
	t.all.set.Add(p)
	t.all.n.Add(1)
	t.all.mu.Unlock()
	for user := range p.users {
		t.removeSub(user, p)
	}
	return true
}

// UnsubscribeAll ends SubscribeAll; p keeps its per-user subscriptions.
// It reports false when p was not subscribed to everyone.
func (t *Table) UnsubscribeAll(p *Peer) bool {
	if !p.all {
		return false
	}
	if len(p.users) > 0 {
		t.route.Lock()
		defer t.route.Unlock()
	}
	for user := range p.users {
		t.addSub(user, p)
	}
	t.removeEveryone(p)
	return true
}

// removeEveryone takes p out of the everyone list.
func (t *Table) removeEveryone(p *Peer) {
	p.all = false
	t.all.mu.Lock()
	if t.all.set.Remove(p) {
		t.all.n.Add(-1)
	}
	t.all.mu.Unlock()
}

// Subscribe subscribes p to user's Join and Leave. It reports false when p
// already was.
func (t *Table) Subscribe(p *Peer, user string) bool {
	if _, dup := p.users[user]; dup {
		return false
	}
	if p.users == nil {
		p.users = make(map[string]struct{})
	}
	p.users[user] = struct{}{}
	if !p.all {
		t.addSub(user, p)
	}
	return true
}

// Unsubscribe ends Subscribe; it reports false when p was not subscribed
// to user.
func (t *Table) Unsubscribe(p *Peer, user string) bool {
	if _, ok := p.users[user]; !ok {
		return false
	}
	delete(p.users, user)
	if !p.all {
		t.removeSub(user, p)
	}
	return true
}

func (t *Table) addSub(user string, p *Peer) {
	sh := &t.users[shard.Index(user)]
	sh.mu.Lock()
	e := sh.m[user]
	if e == nil {
		e = &entry{}
		sh.m[user] = e
	}
	if e.subs == nil {
		e.subs = subset.New(p)
	} else {
		e.subs.Add(p)
	}
	sh.mu.Unlock()
}

func (t *Table) removeSub(user string, p *Peer) {
	sh := &t.users[shard.Index(user)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[user]
	if e == nil {
		return
	}
	if e.subs != nil && e.subs.Remove(p) && e.subs.Len() == 0 {
		e.subs = nil
	}
	if !e.online() && !e.watched() {
		delete(sh.m, user)
	}
}

// Close removes every subscription of p and, if it joined, its connection
// from its user's count.
func (t *Table) Close(p *Peer) {
	if p.all {
		t.removeEveryone(p) // leaving one route for none needs no switch
	} else {
		for user := range p.users {
			t.removeSub(user, p)
		}
	}
	p.users = nil
	t.leave(p)
}

// Online reports whether user has at least one connection (on any node).
func (t *Table) Online(user string) bool {
	sh := &t.users[shard.Index(user)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[user]
	return e != nil && e.online()
}

// AppendOnline appends every online user except except to dst, sorted.
func (t *Table) AppendOnline(dst []string, except string) []string {
	start := len(dst)
	for i := range t.users {
		sh := &t.users[i]
		sh.mu.Lock()
		for user, e := range sh.m {
			if e.online() && user != except {
				dst = append(dst, user)
			}
		}
		sh.mu.Unlock()
	}
	slices.Sort(dst[start:])
	return dst
}

// Stats counts what the table holds, for tests and metrics.
type Stats struct {
	Entries  int // users with connections or subscribers
	Online   int // users with connections (on any node)
	Everyone int // peers subscribed to everyone
}

// Stats returns the table's current counts.
func (t *Table) Stats() Stats {
	var s Stats
	for i := range t.users {
		sh := &t.users[i]
		sh.mu.Lock()
		s.Entries += len(sh.m)
		for _, e := range sh.m {
			if e.online() {
				s.Online++
			}
		}
		sh.mu.Unlock()
	}
	s.Everyone = int(t.all.n.Load())
	return s
}
