package engine

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/listen"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Listening across nodes (engine/listen's doc, "Across nodes"). Each node
// lists in the directory its listeners (pattern + "\x00" + id) and the
// names its clients subscribe to that match a pattern anywhere in the
// cluster; every node mirrors the others' listeners as remote peers and
// counts the others' subscribers. Each name is owned by one live node,
// chosen by rendezvous hashing over the nodes, which alone asks listeners
// and keeps the provider.
type clusterListen struct {
	s     *Server
	n     *cluster.Node
	reg   *listen.Registry
	local listen.Subscriptions // this node's subscription table

	kindListener, kindName byte // directory kinds
	msgTell, msgAnswer     byte // node messages

	members   atomic.Pointer[[]string] // live nodes, this one included, sorted
	settled   atomic.Int64             // unix nanos before which this node owns nothing
	kick      chan struct{}            // rebalance
	proxyMu   sync.Mutex               // serialises registry calls naming remote peers
	mu        sync.Mutex
	patterns  map[string]*pattern
	remote    map[string]int // name → other nodes with subscribers of it
	mine      map[string]bool
	proxies   map[string]*listenProxy // node + "\x00" + id
	locals    map[uint64]*listen.Peer
	localRefs map[uint64]int    // patterns each local peer listens to
	asked     map[askKey]string // a local listener told of a name → the owner that told it
}

type pattern struct {
	re   *regexp.Regexp
	refs int
}

type listenProxy struct {
	peer     *listen.Peer
	patterns map[string]struct{}
}

type askKey struct {
	id            uint64
	name, pattern string
}

func newClusterListen(s *Server, n *cluster.Node, reg *listen.Registry, local listen.Subscriptions, kinds string) *clusterListen {
	c := &clusterListen{s: s, n: n, reg: reg, local: local,
		kindListener: kinds[0], kindName: kinds[1], msgTell: kinds[2], msgAnswer: kinds[3],
		kick: make(chan struct{}, 1), patterns: make(map[string]*pattern), remote: make(map[string]int),
		mine: make(map[string]bool), proxies: make(map[string]*listenProxy), locals: make(map[uint64]*listen.Peer), localRefs: make(map[uint64]int),
		asked: make(map[askKey]string)}
	self := []string{n.ID()}
	c.members.Store(&self)
	reg.SetCluster(c, c)
	dir := n.Directory()
	dir.OnEntry(c.kindListener, c.listenerEntry)
	dir.OnEntry(c.kindName, c.nameEntry)
	dir.OnNodeUp(func(node string) { c.membership(node, true) })
	dir.OnNodeDown(func(node string) { c.membership(node, false) })
	n.Handle(c.msgTell, c.onTell)
	n.Handle(c.msgAnswer, c.onAnswer)
	return c
}

// start begins owning names once this node has heard the others: two
// heartbeats after it joined, every live node has announced itself.
func (c *clusterListen) start(heartbeat time.Duration) {
	wait := 2*heartbeat + 100*time.Millisecond
	c.settled.Store(time.Now().Add(wait).UnixNano())
	c.s.goFunc("cluster-listen", func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-c.s.ctx.Done():
				return
			case <-t.C:
			case <-c.kick:
			}
			c.rebalance()
		}
	})
}

// Owns implements listen.Cluster: the owner of name is the live node with
// the highest hash of (node, name).
func (c *clusterListen) Owns(name string) bool {
	if time.Now().UnixNano() < c.settled.Load() {
		return false
	}
	return c.ownerOf(name) == c.n.ID()
}

func (c *clusterListen) ownerOf(name string) string {
	var best string
	var bestH uint64
	for _, m := range *c.members.Load() {
		d := xxhash.New()
		_, _ = d.WriteString(m)
		_, _ = d.Write([]byte{0})
		_, _ = d.WriteString(name)
		if h := d.Sum64(); best == "" || h > bestH {
			best, bestH = m, h
		}
	}
	return best
}

// membership updates the live nodes and reconciles every name whose owner
// may have moved. It runs under the directory's lock: the work is queued.
func (c *clusterListen) membership(node string, up bool) {
	old := *c.members.Load()
	next := slices.Clone(old)
	i, found := slices.BinarySearch(next, node)
	switch {
	case up && !found:
		next = slices.Insert(next, i, node)
	case !up && found:
		next = slices.Delete(next, i, i+1)
	}
	c.members.Store(&next)
	if !up {
		c.ownerGone(node)
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// ownerGone tells this node's listeners that the names a gone node asked
// them about are no longer theirs; the names' new owner asks again.
func (c *clusterListen) ownerGone(node string) {
	c.mu.Lock()
	var drop []askKey
	for k, from := range c.asked {
		if from == node {
			drop = append(drop, k)
			delete(c.asked, k)
		}
	}
	peers := make([]*listen.Peer, len(drop))
	for i, k := range drop {
		peers[i] = c.locals[k.id]
	}
	c.mu.Unlock()
	for i, k := range drop {
		if peers[i] != nil {
			c.tell(peers[i], fb.ActionSubscriptionRemoved, k.name, k.pattern)
		}
	}
}

func (c *clusterListen) tell(p *listen.Peer, action fb.Action, name, pattern string) {
	m := msg.Msg{Topic: c.reg.Topic(), Action: action, Name: name, Path: pattern}
	_ = p.Conn().Send(msg.Append(nil, &m))
}

// rebalance reconciles every name this node has state for, subscribers
// of, or hears of.
func (c *clusterListen) rebalance() {
	seen := make(map[string]struct{})
	c.reg.StateNames(func(name string) { seen[name] = struct{}{} })
	c.mu.Lock()
	for name := range c.remote {
		seen[name] = struct{}{}
	}
	for name := range c.mine {
		seen[name] = struct{}{}
	}
	c.mu.Unlock()
	for name := range seen {
		c.reg.Reconcile(name)
	}
}

// Listened implements listen.Cluster.
func (c *clusterListen) Listened(p *listen.Peer, pat string, on bool) {
	c.mu.Lock()
	if on {
		c.locals[p.ID()] = p
		c.localRefs[p.ID()]++
	} else if c.localRefs[p.ID()]--; c.localRefs[p.ID()] <= 0 {
		delete(c.localRefs, p.ID())
		delete(c.locals, p.ID())
		for k := range c.asked {
			if k.id == p.ID() {
				delete(c.asked, k)
			}
		}
	}
	c.mu.Unlock()
	key := pat + "\x00" + strconv.FormatUint(p.ID(), 36)
	if on {
		c.n.Directory().Set(c.kindListener, key)
	} else {
		c.n.Directory().Delete(c.kindListener, key)
	}
	c.patternRef(pat, on)
}

// patternRef counts pattern's listeners cluster-wide; a pattern appearing
// or disappearing changes which local names are published.
func (c *clusterListen) patternRef(pat string, on bool) {
	c.mu.Lock()
	pt := c.patterns[pat]
	changed := false
	if on {
		if pt == nil {
			re, err := regexp.Compile(`^(?:` + pat + `)$`)
			if err != nil {
				c.mu.Unlock()
				return
			}
			pt = &pattern{re: re}
			c.patterns[pat] = pt
			changed = true
		}
		pt.refs++
	} else if pt != nil {
		if pt.refs--; pt.refs == 0 {
			delete(c.patterns, pat)
			changed = true
		}
	}
	var check []string
	if changed {
		if on {
			c.mu.Unlock()
			c.local.Names(func(name string) {
				if pt.re.MatchString(name) {
					check = append(check, name)
				}
			})
			c.mu.Lock()
		}
	}
	c.mu.Unlock()
	for _, name := range check {
		c.syncName(name)
	}
}

// Subscribed implements listen.Cluster.
func (c *clusterListen) Subscribed(name string, _ bool) { c.syncName(name) }

// syncName publishes name while this node has subscribers of it and,
// when they came, a pattern somewhere matched it. A published name stays
// published until its last local subscriber leaves, even if every
// pattern matching it goes: while one listener hands over to another,
// the pattern's count may touch zero on this node before the new
// listener's entry arrives, and withdrawing the name then would make the
// owner drop the name's state and ask the new listener a second time.
func (c *clusterListen) syncName(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	subscribed := c.local.Count(name) > 0
	want := subscribed && c.mine[name]
	if subscribed && !want {
		for _, pt := range c.patterns {
			if pt.re.MatchString(name) {
				want = true
				break
			}
		}
	}
	if want == c.mine[name] {
		return
	}
	if want {
		c.mine[name] = true
		c.n.Directory().Set(c.kindName, name)
	} else {
		delete(c.mine, name)
		c.n.Directory().Delete(c.kindName, name)
	}
}

// Count adds the other nodes' subscribers to the local table's: the
// registry sees the cluster's subscriptions.
func (c *clusterListen) Count(name string) int {
	n := c.local.Count(name)
	c.mu.Lock()
	n += c.remote[name]
	c.mu.Unlock()
	return n
}

// Names lists the names with subscribers on any node.
func (c *clusterListen) Names(fn func(name string)) {
	seen := make(map[string]struct{})
	c.local.Names(func(name string) { seen[name] = struct{}{} })
	c.mu.Lock()
	for name := range c.remote {
		seen[name] = struct{}{}
	}
	c.mu.Unlock()
	for name := range seen {
		fn(name)
	}
}

// nameEntry counts another node's subscribers of name.
func (c *clusterListen) nameEntry(_, name string, add bool) {
	c.mu.Lock()
	if add {
		c.remote[name]++
	} else if c.remote[name]--; c.remote[name] <= 0 {
		delete(c.remote, name)
	}
	c.mu.Unlock()
	c.reg.Reconcile(name)
}

// listenerEntry mirrors another node's listener as a remote peer.
func (c *clusterListen) listenerEntry(node, key string, add bool) {
	pat, id, ok := strings.Cut(key, "\x00")
	if !ok {
		return
	}
	pk := node + "\x00" + id
	c.proxyMu.Lock()
	c.mu.Lock()
	px := c.proxies[pk]
	if px == nil && add {
		px = &listenProxy{patterns: make(map[string]struct{})}
		px.peer = listen.NewRemotePeer(&toListener{c: c, node: node, id: id})
		c.proxies[pk] = px
	}
	c.mu.Unlock()
	if px == nil {
		c.proxyMu.Unlock()
		return
	}
	if add {
		if _, dup := px.patterns[pat]; !dup && c.reg.Listen(px.peer, pat, nil) == nil {
			px.patterns[pat] = struct{}{}
			c.proxyMu.Unlock()
			c.patternRef(pat, true)
			return
		}
		c.proxyMu.Unlock()
		return
	}
	_, had := px.patterns[pat]
	if had {
		delete(px.patterns, pat)
		_ = c.reg.Unlisten(px.peer, pat)
	}
	if len(px.patterns) == 0 {
		c.mu.Lock()
		delete(c.proxies, pk)
		c.mu.Unlock()
		c.reg.Close(px.peer)
	}
	c.proxyMu.Unlock()
	if had {
		c.patternRef(pat, false)
	}
}

// toListener carries what a remote peer is told to its listener's node.
type toListener struct {
	c    *clusterListen
	node string
	id   string
}

func (t *toListener) Send(frame []byte) error {
	b := make([]byte, 0, len(t.id)+1+len(frame))
	b = append(append(append(b, t.id...), 0), frame...)
	return t.c.n.SendTo(t.node, t.c.msgTell, b)
}

// onTell hands a name's owner's SubscriptionFound or SubscriptionRemoved
// to the local listener it is for.
func (c *clusterListen) onTell(from string, payload []byte) {
	id, frame, ok := strings.Cut(string(payload), "\x00")
	if !ok {
		return
	}
	pid, err := strconv.ParseUint(id, 36, 64)
	if err != nil {
		return
	}
	var v msg.View
	if v.Reset([]byte(frame)) != nil {
		return
	}
	k := askKey{id: pid, name: string(v.Name()), pattern: string(v.Path())}
	c.mu.Lock()
	p := c.locals[pid]
	c.mu.Unlock()
	if p != nil && v.Action() == fb.ActionSubscriptionFound && !p.Allowed(k.name) {
		// The listener's rules hide this name from it: decline for it.
		b := []byte(id)
		b = append(append(append(append(append(b, 0), 'r'), k.pattern...), 0), k.name...)
		_ = c.n.SendTo(from, c.msgAnswer, b)
		return
	}
	c.mu.Lock()
	switch v.Action() {
	case fb.ActionSubscriptionFound:
		c.asked[k] = from
	case fb.ActionSubscriptionRemoved:
		delete(c.asked, k)
	}
	c.mu.Unlock()
	if p != nil {
		_ = p.Conn().Send(v.Bytes())
	}
}

// Forward implements listen.Cluster.
func (c *clusterListen) Forward(p *listen.Peer, name, pat string, accept bool) {
	owner := c.ownerOf(name)
	c.mu.Lock()
	if from, ok := c.asked[askKey{id: p.ID(), name: name, pattern: pat}]; ok {
		owner = from // the node that asked, whatever this node now thinks
	}
	c.mu.Unlock()
	flag := byte('r')
	if accept {
		flag = 'a'
	}
	b := []byte(strconv.FormatUint(p.ID(), 36))
	b = append(append(append(append(append(b, 0), flag), pat...), 0), name...)
	if owner == c.n.ID() || c.n.SendTo(owner, c.msgAnswer, b) != nil {
		if accept {
			// Nobody can take the answer: the listener must not think it provides.
			c.tell(p, fb.ActionSubscriptionRemoved, name, pat)
		}
	}
}

// onAnswer applies a remote listener's answer about a name this node owns.
func (c *clusterListen) onAnswer(from string, payload []byte) {
	id, rest, ok := strings.Cut(string(payload), "\x00")
	if !ok || len(rest) < 1 {
		return
	}
	accept := rest[0] == 'a'
	pat, name, ok := strings.Cut(rest[1:], "\x00")
	if !ok {
		return
	}
	c.proxyMu.Lock()
	defer c.proxyMu.Unlock()
	c.mu.Lock()
	px := c.proxies[from+"\x00"+id]
	c.mu.Unlock()
	if px == nil {
		if accept {
			// A listener this node does not know (yet): it must stop.
			m := msg.Msg{Topic: c.reg.Topic(), Action: fb.ActionSubscriptionRemoved, Name: name, Path: pat}
			_ = c.n.SendTo(from, c.msgTell, append(append([]byte(id), 0), msg.Append(nil, &m)...))
		}
		return
	}
	if accept {
		_ = c.reg.Accept(px.peer, name, pat)
	} else {
		_ = c.reg.Reject(px.peer, name, pat)
	}
}
