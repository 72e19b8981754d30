package cluster

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Directory replicates small registrations between nodes: each node owns a
// set of entries (a kind byte and a key: "this node has a provider of rpc
// x", "user ann is connected here") and every node mirrors the entries of
// every live node, told of each change through callbacks.
//
// A node numbers its changes and publishes them in order on one subject,
// with a heartbeat carrying the latest number. A receiver that sees a gap,
// a node it does not know, or a node restarted under the same name fetches
// a snapshot from that node and carries on from its number; so a message
// lost while NATS was away is repaired at the next heartbeat. A node not
// heard from for Config.NodeTimeout, or one that said goodbye, is gone:
// each of its entries is removed through the callbacks, then the node-down
// callbacks run.
//
// Concurrency: Set and Delete are safe from any goroutine and never block
// on the network. Callbacks run one at a time, under the directory's
// remote-state lock, in the order of each node's changes: they must not
// block and must not call Nodes or Live (Set and Delete are fine).
type Directory struct {
	n *Node

	mu      sync.Mutex
	local   map[string]struct{} // kind byte + key
	seq     uint64              // number of the last local change
	pending []dirOp             // changes not yet published
	kick    chan struct{}

	rmu      sync.Mutex // remote state and callbacks
	nodes    map[string]*remoteNode
	onEntry  [256]func(node, key string, add bool)
	onUp     []func(node string)
	onDown   []func(node string)
	attempts uint64

	resyncs, gone atomic.Uint64
}

type dirOp struct {
	seq uint64
	add bool
	key string // kind byte + key
}

type remoteNode struct {
	name      string
	inc       uint64
	seq       uint64 // last change applied
	heard     time.Time
	entries   map[string]struct{}
	syncing   bool
	attempt   uint64 // the snapshot being fetched
	syncSince time.Time
	snap      map[string]struct{}
	snapNext  uint64 // next chunk index expected
	buf       []dirOp
}

// Message types on the directory subject and snapshot replies.
const (
	dirDelta     = 'D'
	dirHeartbeat = 'H'
	dirBye       = 'B'
	dirSnapshot  = 'S'
)

// maxDirMsg bounds one directory message; changes and snapshots are split
// below it, well under NATS's default max_payload of 1 MiB.
const maxDirMsg = 256 << 10

// maxBuffered bounds the changes held while a snapshot is fetched; past
// it the fetch starts over.
const maxBuffered = 1 << 18

func newDirectory(n *Node) *Directory {
	return &Directory{n: n, local: make(map[string]struct{}), kick: make(chan struct{}, 1), nodes: make(map[string]*remoteNode)}
}

// OnEntry installs fn to hear of other nodes' entries of kind being added
// and removed. Call before Start.
func (d *Directory) OnEntry(kind byte, fn func(node, key string, add bool)) { d.onEntry[kind] = fn }

// OnNodeUp installs fn to hear of a node appearing (before its entries).
func (d *Directory) OnNodeUp(fn func(node string)) { d.onUp = append(d.onUp, fn) }

// OnNodeDown installs fn to hear of a node gone (after its entries were
// removed). Call before Start.
func (d *Directory) OnNodeDown(fn func(node string)) { d.onDown = append(d.onDown, fn) }

// Set adds this node's entry (kind, key); it reports false when it was
// already there.
func (d *Directory) Set(kind byte, key string) bool { return d.change(kind, key, true) }

// Delete removes this node's entry (kind, key); it reports false when it
// was not there.
func (d *Directory) Delete(kind byte, key string) bool { return d.change(kind, key, false) }

func (d *Directory) change(kind byte, key string, add bool) bool {
	k := string(kind) + key
	d.mu.Lock()
	_, had := d.local[k]
	if had == add {
		d.mu.Unlock()
		return false
	}
	if add {
		d.local[k] = struct{}{}
	} else {
		delete(d.local, k)
	}
	d.seq++
	d.pending = append(d.pending, dirOp{seq: d.seq, add: add, key: k})
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return true
}

// Nodes returns the names of the other live nodes, sorted.
func (d *Directory) Nodes() []string {
	d.rmu.Lock()
	out := make([]string, 0, len(d.nodes))
	for name := range d.nodes {
		out = append(out, name)
	}
	d.rmu.Unlock()
	slices.Sort(out)
	return out
}

// Live reports whether node is this node or a live other one.
func (d *Directory) Live(node string) bool {
	if node == d.n.cfg.Node {
		return true
	}
	d.rmu.Lock()
	_, ok := d.nodes[node]
	d.rmu.Unlock()
	return ok
}

func (d *Directory) start() error {
	nc := d.n.nc
	if _, err := nc.Subscribe(d.n.prefix+"dir", d.onDirMsg); err != nil {
		return err
	}
	if _, err := nc.Subscribe(d.n.prefix+"sync."+d.n.cfg.Node, d.onSyncRequest); err != nil {
		return err
	}
	sub, err := nc.Subscribe(d.n.prefix+"syncr."+d.n.cfg.Node, d.onSnapshot)
	if err != nil {
		return err
	}
	_ = sub.SetPendingLimits(-1, 512<<20)
	d.n.wg.Add(1)
	go d.run()
	return nil
}

// reconnected runs when the NATS connection comes (back): a heartbeat now
// tells the others to resynchronise with this node without waiting.
func (d *Directory) reconnected() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// run publishes local changes and heartbeats, and takes silent nodes for
// gone.
func (d *Directory) run() {
	defer d.n.wg.Done()
	hb := time.NewTicker(d.n.cfg.Heartbeat)
	defer hb.Stop()
	wasConnected := false
	for {
		beat := false
		select {
		case <-d.n.done:
			return
		case <-d.kick:
		case <-hb.C:
			beat = true
			d.sweep(time.Now())
		}
		connected := d.n.Connected()
		if connected && !wasConnected {
			beat = true
		}
		wasConnected = connected
		seq := d.flush()
		if beat {
			b := d.header(dirHeartbeat)
			b = appendUvarint(b, seq)
			_ = d.n.publish(d.n.prefix+"dir", b)
		}
	}
}

// header starts a directory message: type, node, incarnation.
func (d *Directory) header(typ byte) []byte {
	b := make([]byte, 0, 64)
	b = append(b, typ)
	b = appendString(b, d.n.cfg.Node)
	return binary.BigEndian.AppendUint64(b, d.n.inc)
}

// flush publishes the pending changes and returns the number of the last
// one taken (or the current number when none was pending).
func (d *Directory) flush() uint64 {
	d.mu.Lock()
	ops := d.pending
	d.pending = nil
	seq := d.seq
	d.mu.Unlock()
	for len(ops) > 0 {
		b := d.header(dirDelta)
		b = appendUvarint(b, ops[0].seq)
		countAt := len(b)
		b = append(b, 0, 0, 0, 0) // count, fixed width
		k := 0
		for k < len(ops) && (k == 0 || len(b)+len(ops[k].key)+12 < maxDirMsg) {
			op := ops[k]
			if op.add {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
			b = appendString(b, op.key)
			k++
		}
		binary.BigEndian.PutUint32(b[countAt:], uint32(k))
		_ = d.n.publish(d.n.prefix+"dir", b) // lost while disconnected: the next heartbeat shows the gap
		ops = ops[k:]
	}
	return seq
}

// goodbye tells the other nodes this one is leaving.
func (d *Directory) goodbye() {
	d.flush()
	_ = d.n.publish(d.n.prefix+"dir", d.header(dirBye))
}

// parseHeader reads a message's type, node and incarnation.
func parseHeader(b []byte) (typ byte, node string, inc uint64, rest []byte, ok bool) {
	if len(b) < 1 {
		return 0, "", 0, nil, false
	}
	typ = b[0]
	node, b, ok = readString(b[1:])
	if !ok || len(b) < 8 {
		return 0, "", 0, nil, false
	}
	return typ, node, binary.BigEndian.Uint64(b), b[8:], true
}

// readOps decodes count changes numbered from first.
func readOps(b []byte, first uint64, count int) ([]dirOp, bool) {
	if count < 0 || count > len(b)/3 { // each change takes 3 bytes or more
		return nil, false
	}
	ops := make([]dirOp, 0, count)
	for i := 0; i < count; i++ {
		if len(b) < 1 {
			return nil, false
		}
		add := b[0] == 1
		key, rest, ok := readString(b[1:])
		if !ok || key == "" {
			return nil, false
		}
		b = rest
		ops = append(ops, dirOp{seq: first + uint64(i), add: add, key: key})
	}
	return ops, true
}

func (d *Directory) onDirMsg(m *nats.Msg) {
	d.n.msgsIn.Add(1)
	typ, node, inc, rest, ok := parseHeader(m.Data)
	if !ok || node == d.n.cfg.Node {
		return
	}
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if typ == dirBye {
		if r := d.nodes[node]; r != nil && r.inc == inc {
			d.dropLocked(r)
		}
		return
	}
	r := d.nodes[node]
	if r != nil && r.inc != inc {
		d.dropLocked(r) // restarted under the same name: a new node
		r = nil
	}
	if r == nil {
		r = &remoteNode{name: node, inc: inc, entries: make(map[string]struct{})}
		d.nodes[node] = r
		for _, fn := range d.onUp {
			fn(node)
		}
		d.syncLocked(r)
	}
	r.heard = time.Now()
	switch typ {
	case dirHeartbeat:
		seq, _, ok := readUvarint(rest)
		if ok && !r.syncing && seq > r.seq {
			d.syncLocked(r) // missed changes
		}
	case dirDelta:
		first, b, ok := readUvarint(rest)
		if !ok || len(b) < 4 {
			return
		}
		ops, ok := readOps(b[4:], first, int(binary.BigEndian.Uint32(b)))
		if !ok {
			return
		}
		if r.syncing {
			if len(r.buf)+len(ops) > maxBuffered {
				d.syncLocked(r)
				return
			}
			r.buf = append(r.buf, ops...)
			return
		}
		d.applyLocked(r, ops)
	}
}

// applyLocked applies ops in order, skipping those already applied; a
// gap starts a snapshot fetch.
func (d *Directory) applyLocked(r *remoteNode, ops []dirOp) {
	for _, op := range ops {
		if op.seq <= r.seq {
			continue
		}
		if op.seq != r.seq+1 {
			d.syncLocked(r)
			return
		}
		r.seq = op.seq
		d.setLocked(r, op.key, op.add)
	}
}

func (d *Directory) setLocked(r *remoteNode, k string, add bool) {
	_, had := r.entries[k]
	if had == add {
		return
	}
	if add {
		r.entries[k] = struct{}{}
	} else {
		delete(r.entries, k)
	}
	if fn := d.onEntry[k[0]]; fn != nil {
		fn(r.name, k[1:], add)
	}
}

// dropLocked takes r for gone.
func (d *Directory) dropLocked(r *remoteNode) {
	delete(d.nodes, r.name)
	d.gone.Add(1)
	for k := range r.entries {
		if fn := d.onEntry[k[0]]; fn != nil {
			fn(r.name, k[1:], false)
		}
	}
	r.entries = nil
	for _, fn := range d.onDown {
		fn(r.name)
	}
	d.n.log.Info("cluster: node gone", "peer", r.name)
}

// syncLocked (re)starts fetching r's snapshot.
func (d *Directory) syncLocked(r *remoteNode) {
	d.attempts++
	r.syncing, r.attempt, r.syncSince = true, d.attempts, time.Now()
	r.snap, r.snapNext, r.buf = make(map[string]struct{}), 0, r.buf[:0]
	d.resyncs.Add(1)
	req := appendUvarint(nil, r.attempt)
	if d.n.Connected() {
		if err := d.n.nc.PublishRequest(d.n.prefix+"sync."+r.name, d.n.prefix+"syncr."+d.n.cfg.Node, req); err == nil {
			d.n.msgsOut.Add(1)
		}
	}
}

// onSyncRequest answers another node's snapshot request with this node's
// entries, in chunks.
func (d *Directory) onSyncRequest(m *nats.Msg) {
	d.n.msgsIn.Add(1)
	attempt, _, ok := readUvarint(m.Data)
	if !ok || m.Reply == "" {
		return
	}
	d.mu.Lock()
	seq := d.seq
	keys := make([]string, 0, len(d.local))
	for k := range d.local {
		keys = append(keys, k)
	}
	d.mu.Unlock()
	var index uint64
	for {
		b := d.header(dirSnapshot)
		b = appendUvarint(b, attempt)
		b = appendUvarint(b, seq)
		b = appendUvarint(b, index)
		lastAt := len(b)
		b = append(b, 0)
		countAt := len(b)
		b = append(b, 0, 0, 0, 0)
		k := 0
		for k < len(keys) && (k == 0 || len(b)+len(keys[k])+12 < maxDirMsg) {
			b = appendString(b, keys[k])
			k++
		}
		keys = keys[k:]
		binary.BigEndian.PutUint32(b[countAt:], uint32(k))
		if len(keys) == 0 {
			b[lastAt] = 1
		}
		if d.n.publish(m.Reply, b) != nil {
			return
		}
		index++
		if len(keys) == 0 {
			return
		}
	}
}

// onSnapshot collects a snapshot's chunks and applies it when complete.
func (d *Directory) onSnapshot(m *nats.Msg) {
	d.n.msgsIn.Add(1)
	typ, node, inc, b, ok := parseHeader(m.Data)
	if !ok || typ != dirSnapshot {
		return
	}
	attempt, b, ok1 := readUvarint(b)
	seq, b, ok2 := readUvarint(b)
	index, b, ok3 := readUvarint(b)
	if !ok1 || !ok2 || !ok3 || len(b) < 5 {
		return
	}
	last := b[0] == 1
	count := int(binary.BigEndian.Uint32(b[1:]))
	b = b[5:]
	d.rmu.Lock()
	defer d.rmu.Unlock()
	r := d.nodes[node]
	if r == nil || r.inc != inc || !r.syncing || r.attempt != attempt {
		return // stale
	}
	if index != r.snapNext {
		d.syncLocked(r) // a chunk went missing
		return
	}
	r.snapNext++
	for i := 0; i < count; i++ {
		k, rest, ok := readString(b)
		if !ok || k == "" {
			d.syncLocked(r)
			return
		}
		r.snap[k] = struct{}{}
		b = rest
	}
	if !last {
		return
	}
	// Replace r's entries with the snapshot, then replay what came after.
	for k := range r.entries {
		if _, keep := r.snap[k]; !keep {
			d.setLocked(r, k, false)
		}
	}
	for k := range r.snap {
		d.setLocked(r, k, true)
	}
	r.seq, r.syncing, r.snap = seq, false, nil
	buf := r.buf
	r.buf = nil
	d.applyLocked(r, buf)
}

// sweep takes silent nodes for gone and retries stalled snapshot fetches.
func (d *Directory) sweep(now time.Time) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	for _, r := range d.nodes {
		switch {
		case now.Sub(r.heard) > d.n.cfg.NodeTimeout:
			d.dropLocked(r)
		case r.syncing && now.Sub(r.syncSince) > 2*d.n.cfg.Heartbeat:
			d.syncLocked(r)
		}
	}
}
