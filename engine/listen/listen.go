// Package listen lets providers hear about subscriptions: a connection
// listens to a pattern, and when a name matching it gains its first
// subscriber, one listener is asked to provide it (SubscriptionFound). The
// listener answers ListenAccept or ListenReject; a reject (or the listener
// leaving before it answers) asks the next listener not yet tried. The
// accepting provider is told SubscriptionRemoved when the name's last
// subscriber leaves; if the provider unlistens or disconnects, the
// listeners are asked again, in a new round in which earlier rejecters
// may be asked once more.
//
// The registry is generic over a topic: it sees the subscription table only
// through Subscriptions (Count and Names), so events use it today and
// records can use a second Registry tomorrow. The owner of the subscription
// table calls Subscribed after a name's first subscriber and Unsubscribed
// after its last; both reconcile the name's state with the table's
// current count, so racing calls end in the right state whatever order
// they run in.
//
// # Across nodes
//
// In a cluster every node's registry holds every listener: its own, and
// one remote Peer (NewRemotePeer) per listener on another node, whose
// Conn carries SubscriptionFound and SubscriptionRemoved to that node.
// Subscriptions.Count counts subscribers on every node. Each name is run
// by one node, the one Cluster.Owns says: only there is a listener asked
// and a provider kept. A local listener's answer about a name another node
// owns goes to that node (Cluster.Forward), which applies it to the
// listener's remote Peer. When ownership moves (a node joined or left),
// Reconcile drops the state of names no longer owned, telling their
// provider SubscriptionRemoved, and asks for the names now owned.
//
// Patterns are Go regular expressions (RE2 syntax) matched against the
// whole name: "prices/.*" matches "prices/eur" but not "old/prices/eur".
//
// # Concurrency
//
// Registry methods are safe from any goroutine, except that the methods
// naming a Peer (Listen, Unlisten, Accept, Reject, Close) must not run
// concurrently for the same Peer: the session calls them from its loop.
// Conn.Send must not block.
//
// Lock order: name shard → (listener mutex | Subscriptions' locks | Conn).
// The listener-list mutex is taken alone. Subscriptions.Count must not call
// back into the registry.
//
// # Invariants
//
//  1. A name has state only while it has subscribers and the state names at
//     least one listener (provider, asked, or tried); removing a listener
//     or the last subscriber leaves no trace.
//  2. At most one listener of a name is asked or providing at a time, and
//     within a round no listener is asked twice.
//  3. Every listener's name set holds exactly the names whose state refers
//     to it, so unlistening visits only those names.
package listen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/internal/shard"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Errors returned to the session, which answers them with the matching
// catalogue code.
var (
	ErrInvalidPattern   = errors.New("listen: pattern is not a valid regular expression")
	ErrPatternTooLarge  = errors.New("listen: pattern compiles to more than the allowed size")
	ErrAlreadyListening = errors.New("listen: already listening to this pattern")
	ErrNotListening     = errors.New("listen: not listening to this pattern")
	ErrClosed           = errors.New("listen: connection closed")
)

// Conn is where a Peer's messages go; netloop.Conn satisfies it.
type Conn interface {
	Send(payload []byte) error
}

// Subscriptions is the subscription table the registry serves; event.Table
// satisfies it. Both methods must be safe from any goroutine; Names's fn
// must not be called with a lock the registry might wait for.
type Subscriptions interface {
	Count(name string) int
	Names(fn func(name string))
}

// Cluster connects a registry to the other nodes (engine's cluster wiring).
type Cluster interface {
	// Owns reports whether this node runs name's provider state. It is
	// called under a name shard lock and must not block.
	Owns(name string) bool
	// Listened is told that a local peer started (on) or stopped
	// listening to pattern, in order per peer.
	Listened(p *Peer, pattern string, on bool)
	// Forward carries a local listener's Accept (accept) or Reject of a
	// name another node owns to that node.
	Forward(p *Peer, name, pattern string, accept bool)
	// Subscribed is told that name gained its first (on) or lost its last
	// local subscriber, before the registry acts on it.
	Subscribed(name string, on bool)
}

// Registry holds the listeners of one topic and the provider state of
// every subscribed name that matches one of them.
type Registry struct {
	cluster Cluster
	// onProvider, when set, hears when a name gains or loses its accepted
	// provider; it runs under the name's shard lock and must only queue
	// messages.
	onProvider func(name string, has bool)
	topic      fb.Topic
	subs       Subscriptions
	mu         sync.Mutex                  // serialises writers of listeners; guards cache
	cache      map[string]*cachedPattern   // compiled patterns, shared by their listeners
	insts      int                         // instructions of the cached patterns
	listeners  atomic.Pointer[[]*listener] // copy-on-write, registration order
	names      [shard.Count]nameShard
}

type cachedPattern struct {
	re    *regexp.Regexp
	insts int
	refs  int
}

// compiled returns pattern compiled, from the cache when another
// listener uses it; release gives the reference back.
func (r *Registry) compiled(pattern string) (*regexp.Regexp, error) {
	r.mu.Lock()
	if c := r.cache[pattern]; c != nil {
		c.refs++
		r.mu.Unlock()
		return c.re, nil
	}
	r.mu.Unlock()
	re, insts, err := compile(pattern)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.cache[pattern]; c != nil {
		c.refs++
		return c.re, nil
	}
	if r.insts+insts > MaxTotalInsts {
		return nil, ErrTooManyPatterns
	}
	if r.cache == nil {
		r.cache = make(map[string]*cachedPattern)
	}
	r.cache[pattern] = &cachedPattern{re: re, insts: insts, refs: 1}
	r.insts += insts
	return re, nil
}

func (r *Registry) release(pattern string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.cache[pattern]; c != nil {
		if c.refs--; c.refs <= 0 {
			delete(r.cache, pattern)
			r.insts -= c.insts
		}
	}
}

type nameShard struct {
	mu sync.Mutex
	m  map[string]*state
}

type state struct {
	provider *listener   // accepted
	pending  *listener   // asked, no answer yet
	tried    []*listener // asked in this round (pending included)
}

type listener struct {
	peer    *Peer
	pattern string
	re      *regexp.Regexp
	gone    atomic.Bool // set with mu.closed; lets askLocked skip it cheaply
	mu      struct {
		sync.Mutex
		closed bool
		names  map[string]struct{} // names whose state refers to this listener
	}
}

// Peer is one connection's handle; its fields are owned by the caller of
// the Peer methods.
type Peer struct {
	allow   func(name string) bool // nil: every name
	id      uint64
	remote  bool
	conn    Conn
	listens map[string]*listener
	closed  bool
}

var peerIDs atomic.Uint64

// NewPeer returns a handle for a connection.
func NewPeer(conn Conn) *Peer { return &Peer{id: peerIDs.Add(1), conn: conn} }

// NewRemotePeer returns a handle standing for a listener on another node;
// conn carries what it is told to that node.
func NewRemotePeer(conn Conn) *Peer { return &Peer{id: peerIDs.Add(1), remote: true, conn: conn} }

// ID returns p's number, unique in this process.
func (p *Peer) ID() uint64 { return p.id }

// SetAllow installs the check a name must pass before p is asked about
// it (the user's permission to listen to that name). fn is called from
// any goroutine, under registry locks: it must be quick and must not call
// back into the registry. Set it before p listens.
func (p *Peer) SetAllow(fn func(name string) bool) { p.allow = fn }

// Allowed reports whether p may be told of name.
func (p *Peer) Allowed(name string) bool { return p.allow == nil || p.allow(name) }

// MaxPatternInsts bounds the compiled size of one listen pattern (its
// program's instructions, about 140 bytes each once compiled): a 141-byte
// pattern of 20 alternatives like a{999} compiles to 20,005 instructions,
// 2.8 MB and 13 ms of loop time. "prices/.*" takes 20.
const MaxPatternInsts = 2000

// MaxTotalInsts bounds the instructions of every distinct pattern the
// registry holds (identical patterns share one compiled copy), so many
// connections with many large patterns cannot take the memory either.
const MaxTotalInsts = 500000

// ErrTooManyPatterns is returned when the registry's pattern budget is
// spent.
var ErrTooManyPatterns = errors.New("listen: the server holds as many listen patterns as it allows")

// compile checks pattern and compiles it anchored to the whole name; it
// also returns the program's size.
func compile(pattern string) (*regexp.Regexp, int, error) {
	re, err := syntax.Parse(`^(?:`+pattern+`)$`, syntax.Perl)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrInvalidPattern, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrInvalidPattern, err)
	}
	if len(prog.Inst) > MaxPatternInsts {
		return nil, 0, fmt.Errorf("%w (%d instructions, at most %d)", ErrPatternTooLarge, len(prog.Inst), MaxPatternInsts)
	}
	cre, err := regexp.Compile(`^(?:` + pattern + `)$`)
	return cre, len(prog.Inst), err
}

// Remote reports whether p stands for a listener on another node.
func (p *Peer) Remote() bool { return p.remote }

// Conn returns the connection p's messages go to.
func (p *Peer) Conn() Conn { return p.conn }

// Listening reports whether p listens to pattern. Same goroutine rules as
// Listen.
func (p *Peer) Listening(pattern string) bool {
	_, ok := p.listens[pattern]
	return ok
}

// SetCluster connects the registry to a cluster; call it before use. subs
// replaces the registry's subscription table with one counting the
// subscribers on every node.
func (r *Registry) SetCluster(c Cluster, subs Subscriptions) { r.cluster, r.subs = c, subs }

// Topic returns the registry's topic.
func (r *Registry) Topic() fb.Topic { return r.topic }

// New returns a registry for topic over subs.
func New(topic fb.Topic, subs Subscriptions) *Registry {
	r := &Registry{topic: topic, subs: subs}
	for i := range r.names {
		r.names[i].m = make(map[string]*state)
	}
	return r
}

// Listen registers p for names matching pattern and asks it about the
// subscribed names that match and have no provider yet. accepted, when not
// nil, runs once the pattern is accepted and before anything is sent to p,
// so the caller's acknowledgement precedes every SubscriptionFound.
func (r *Registry) Listen(p *Peer, pattern string, accepted func()) error {
	if p.closed {
		return ErrClosed
	}
	if _, dup := p.listens[pattern]; dup {
		return ErrAlreadyListening
	}
	if _, err := syntax.Parse(pattern, syntax.Perl); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPattern, err)
	}
	re, err := r.compiled(pattern)
	if err != nil {
		return err
	}
	if accepted != nil {
		accepted()
	}
	l := &listener{peer: p, pattern: pattern, re: re}
	if p.listens == nil {
		p.listens = make(map[string]*listener)
	}
	p.listens[pattern] = l
	r.mu.Lock()
	var next []*listener
	if old := r.listeners.Load(); old != nil {
		next = make([]*listener, len(*old), len(*old)+1)
		copy(next, *old)
	}
	next = append(next, l)
	r.listeners.Store(&next)
	r.mu.Unlock()
	if r.cluster != nil && !p.remote {
		r.cluster.Listened(p, pattern, true)
	}

	var matches []string
	r.subs.Names(func(name string) {
		if re.MatchString(name) {
			matches = append(matches, name)
		}
	})
	for _, name := range matches {
		r.reconcile(name)
	}
	return nil
}

// Unlisten removes p's listener for pattern. Names it provided or was
// asked about are offered to the other listeners.
func (r *Registry) Unlisten(p *Peer, pattern string) error {
	l := p.listens[pattern]
	if l == nil {
		return ErrNotListening
	}
	delete(p.listens, pattern)
	r.remove(l)
	if r.cluster != nil && !p.remote {
		r.cluster.Listened(p, pattern, false)
	}
	return nil
}

// Close removes every listener of p.
func (r *Registry) Close(p *Peer) {
	p.closed = true
	for pattern, l := range p.listens {
		r.remove(l)
		if r.cluster != nil && !p.remote {
			r.cluster.Listened(p, pattern, false)
		}
	}
	p.listens = nil
}

// Accept records that p provides name under pattern. If p was not the
// listener asked (the name lost its subscribers, or another listener was
// asked), p is told SubscriptionRemoved at once so it stops providing.
func (r *Registry) Accept(p *Peer, name, pattern string) error {
	l := p.listens[pattern]
	if l == nil {
		return ErrNotListening
	}
	if r.cluster != nil && !p.remote && !r.cluster.Owns(name) {
		r.cluster.Forward(p, name, pattern, true)
		return nil
	}
	sh := &r.names[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.m[name]
	switch {
	case st != nil && st.pending == l:
		st.provider, st.pending = l, nil
		if r.onProvider != nil {
			r.onProvider(name, true)
		}
	case st != nil && st.provider == l:
		// accepting twice is harmless
	default:
		r.send(l, fb.ActionSubscriptionRemoved, name)
	}
	return nil
}

// Reject records that p declines name under pattern; the next listener not
// yet tried is asked. A reject from a listener that was not asked is
// ignored.
func (r *Registry) Reject(p *Peer, name, pattern string) error {
	l := p.listens[pattern]
	if l == nil {
		return ErrNotListening
	}
	if r.cluster != nil && !p.remote && !r.cluster.Owns(name) {
		r.cluster.Forward(p, name, pattern, false)
		return nil
	}
	sh := &r.names[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.m[name]
	if st == nil || st.pending != l {
		return nil
	}
	st.pending = nil
	r.askLocked(sh, name, st)
	return nil
}

// Subscribed is called after name gained its first subscriber.
func (r *Registry) Subscribed(name string) {
	if r.cluster != nil {
		r.cluster.Subscribed(name, true)
	}
	r.changed(name)
}

// Unsubscribed is called after name lost its last subscriber.
func (r *Registry) Unsubscribed(name string) {
	if r.cluster != nil {
		r.cluster.Subscribed(name, false)
	}
	r.changed(name)
}

// Reconcile brings name's state in line with its subscribers (on every
// node) and its owner: the cluster calls it when another node's
// subscribers of name come or go, and when ownership may have moved.
func (r *Registry) Reconcile(name string) { r.changed(name) }

// StateNames calls fn for every name with provider state here (for the
// cluster to reconcile after ownership moved). fn runs with no lock held.
func (r *Registry) StateNames(fn func(name string)) {
	var names []string
	for i := range r.names {
		sh := &r.names[i]
		sh.mu.Lock()
		for name := range sh.m {
			names = append(names, name)
		}
		sh.mu.Unlock()
	}
	for _, name := range names {
		fn(name)
	}
}

func (r *Registry) changed(name string) {
	// With no listeners there is no state: every state refers to a
	// listener, and removing a listener cleans up the states it is in.
	if l := r.listeners.Load(); l == nil || len(*l) == 0 {
		return
	}
	r.reconcile(name)
}

// reconcile brings name's state in line with whether it has subscribers.
func (r *Registry) reconcile(name string) {
	sh := &r.names[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.m[name]
	if r.subs.Count(name) == 0 || (r.cluster != nil && !r.cluster.Owns(name)) {
		if st != nil {
			r.dropLocked(sh, name, st)
		}
		return
	}
	if st != nil && (st.provider != nil || st.pending != nil) {
		return
	}
	r.askLocked(sh, name, st)
}

// askLocked asks one untried live listener matching name (st may be nil),
// or, when there is none, prunes a state that refers to nobody.
func (r *Registry) askLocked(sh *nameShard, name string, st *state) {
	list := r.listeners.Load()
	for list != nil {
		var pick *listener
		k := 0
		for _, l := range *list {
			if l.gone.Load() || (st != nil && slices.Contains(st.tried, l)) || !l.re.MatchString(name) || !l.peer.Allowed(name) {
				continue
			}
			k++
			if rand.IntN(k) == 0 { // uniform choice in one pass
				pick = l
			}
		}
		if pick == nil {
			break
		}
		pick.mu.Lock()
		if pick.mu.closed {
			pick.mu.Unlock()
			continue // lost a race with its removal; gone is set now
		}
		if pick.mu.names == nil {
			pick.mu.names = make(map[string]struct{})
		}
		pick.mu.names[name] = struct{}{}
		pick.mu.Unlock()
		if st == nil {
			st = &state{}
			sh.m[name] = st
		}
		st.pending = pick
		st.tried = append(st.tried, pick)
		r.send(pick, fb.ActionSubscriptionFound, name)
		return
	}
	if st != nil && st.provider == nil && st.pending == nil && len(st.tried) == 0 {
		delete(sh.m, name)
	}
}

// dropLocked ends name's state: the provider is told SubscriptionRemoved.
func (r *Registry) dropLocked(sh *nameShard, name string, st *state) {
	if st.provider != nil {
		r.send(st.provider, fb.ActionSubscriptionRemoved, name)
		forget(st.provider, name)
		if r.onProvider != nil {
			r.onProvider(name, false)
		}
	}
	if st.pending != nil {
		forget(st.pending, name)
	}
	for _, l := range st.tried {
		forget(l, name)
	}
	delete(sh.m, name)
}

// forget removes name from l's name set.
func forget(l *listener, name string) {
	l.mu.Lock()
	delete(l.mu.names, name)
	l.mu.Unlock()
}

// remove takes l out of the registry and fixes every name it was part of.
func (r *Registry) remove(l *listener) {
	r.release(l.pattern)
	r.mu.Lock()
	if old := r.listeners.Load(); old != nil {
		next := make([]*listener, 0, len(*old))
		for _, x := range *old {
			if x != l {
				next = append(next, x)
			}
		}
		r.listeners.Store(&next)
	}
	r.mu.Unlock()
	l.mu.Lock()
	l.mu.closed = true
	l.gone.Store(true)
	names := l.mu.names
	l.mu.names = nil
	l.mu.Unlock()

	for name := range names {
		sh := &r.names[shard.Index(name)]
		sh.mu.Lock()
		st := sh.m[name]
		if st == nil {
			sh.mu.Unlock()
			continue
		}
		if st.provider == l {
			// The provider left: a new round, in which anyone may be asked.
			st.provider = nil
			if r.onProvider != nil {
				r.onProvider(name, false)
			}
			for _, x := range st.tried {
				if x != l {
					forget(x, name)
				}
			}
			st.tried = st.tried[:0]
		} else if i := slices.Index(st.tried, l); i >= 0 {
			st.tried = slices.Delete(st.tried, i, i+1)
		}
		if st.pending == l {
			st.pending = nil
		}
		switch {
		case r.subs.Count(name) == 0 || (r.cluster != nil && !r.cluster.Owns(name)):
			r.dropLocked(sh, name, st)
		case st.provider == nil && st.pending == nil:
			r.askLocked(sh, name, st)
		}
		sh.mu.Unlock()
	}
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// send tells l's connection action about name, with l's pattern as path.
func (r *Registry) send(l *listener, action fb.Action, name string) {
	bp := bufs.Get().(*[]byte)
	*bp = msg.Append((*bp)[:0], &msg.Msg{Topic: r.topic, Action: action, Name: name, Path: l.pattern})
	_ = l.peer.conn.Send(*bp)
	bufs.Put(bp)
}

// OnProvider installs fn to hear when a name gains (has) or loses its
// accepted provider. Call it before the registry is used. fn runs under the
// name's shard lock, so it must not call back into the registry; queueing
// messages is fine.
func (r *Registry) OnProvider(fn func(name string, has bool)) { r.onProvider = fn }

// HasProvider reports whether name has an accepted provider now.
func (r *Registry) HasProvider(name string) bool {
	sh := &r.names[shard.Index(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.m[name]
	return st != nil && st.provider != nil
}

// Stats counts what the registry holds, for tests and metrics.
type Stats struct {
	Listeners int // (connection, pattern) pairs
	Names     int // names with provider state
	Providers int // names with an accepted provider
}

// Stats returns the registry's current counts.
func (r *Registry) Stats() Stats {
	var s Stats
	if l := r.listeners.Load(); l != nil {
		s.Listeners = len(*l)
	}
	for i := range r.names {
		sh := &r.names[i]
		sh.mu.Lock()
		s.Names += len(sh.m)
		for _, st := range sh.m {
			if st.provider != nil {
				s.Providers++
			}
		}
		sh.mu.Unlock()
	}
	return s
}
