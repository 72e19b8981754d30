package eddy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
)

// MaxQueuedWrites bounds the writes of one record that wait for a
// connection or for a conflict to be resolved; more fail with
// ErrWriteQueueFull.
const MaxQueuedWrites = 10000

// recState is where a record is in its life; see record.
type recState uint8

const (
	// stLoading: the first Read is in flight (or waits for a connection).
	stLoading recState = iota
	// stSynced: the subscription lives on conn; writes are sent at once.
	stSynced
	// stResync: a Read is in flight on conn (read != nil) or waits for a
	// connection (read == nil); incoming changes are ignored, writes queued.
	stResync
	// stMerging: a MergeWith function runs on the callback goroutine;
	// incoming changes are ignored (missed), writes queued.
	stMerging
	// stMergeWait: a merged document was written (mergeAck) and its answer
	// is awaited; writes are queued. If it conflicts, its VersionExists
	// carries the server's document, merged at once without another Read.
	stMergeWait
	// stGone: deleted, discarded or failed to load; out of the table.
	stGone
)

type opKind uint8

const (
	opSet opKind = iota
	opErase
)

// writeOp is one local write: applied to the local document at once, sent
// at once or queued until the record is in step with the server again.
type writeOp struct {
	kind  opKind
	path  jsonpath.Path
	value []byte // opSet: JSON
	owned bool   // value belongs to the write (else the caller's: copy to keep)
	ack   *ackWaiter
	// transform, when set, computes the whole document (opSet at the root)
	// from the one it applies to: a list operation. It runs again whenever
	// the op is applied to another document (after a reconnect, or when
	// the server refused it for a concurrent write: see replays). from is
	// the document value was last computed from (documents are never
	// modified in place, so the slice identifies it).
	transform func(doc []byte, uncertain bool) ([]byte, error)
	from      []byte
	uncertain bool // sent on a connection that dropped before the answer
}

// ackWaiter is a SetWithAck caller waiting for its write to be durable.
type ackWaiter struct{ ch chan error }

func newAckWaiter() *ackWaiter { return &ackWaiter{ch: make(chan error, 1)} }

func (w *ackWaiter) resolve(err error) {
	select {
	case w.ch <- err:
	default:
	}
}

// pathSub is one path subscription of a handle.
type pathSub struct {
	owner  *Record
	path   jsonpath.Path
	fn     func(json.RawMessage)
	active atomic.Bool
}

// delHook is one OnDelete callback of a handle.
type delHook struct {
	owner *Record
	fn    func()
}

// note is one queued callback: a path subscriber with its new value, or a
// call.
type note struct {
	sub  *pathSub
	val  []byte
	call func()
}

// readOp is one Read request of a record.
type readOp struct {
	r     *localRecord
	cn    *conn.Conn
	known int64 // the version sent: the server omits data when it has no newer one
}

// localRecord is the client's copy of one record, shared by every handle that
// Get returned for its name.
//
// Its document (data) is never modified in place: each change installs a
// new slice, so values handed to callbacks and returned by Get stay valid.
//
// Version bookkeeping: version is the local version (the last one sent or
// received); confirmed <= version is the last version known to hold the
// same document here and on the server. A change from another writer
// carries a version the server assigned; since the server delivers every
// other writer's change in version order and never echoes our own, a
// change numbered in (confirmed, version] proves one of our writes lost the
// race, one numbered version+1 proves all of ours landed.
type localRecord struct {
	rs      *Records
	name    string
	ready   chan struct{} // closed when loading ends, either way
	drainFn func()

	refs int // handles and pending Gets; guarded by rs.mu

	mu        sync.Mutex
	state     recState
	loadErr   error      // why loading failed; set before ready closes
	goneErr   error      // what calls return once stGone
	deleting  bool       // a Delete is in flight: writes fail
	conn      *conn.Conn // the connection the subscription lives on (or the Read went to)
	read      *readOp    // the Read in flight
	version   int64
	confirmed int64
	data      []byte
	// In stResync and stMerging: the document and version before the
	// queued writes, which is what is merged.
	pre        []byte
	preVersion int64
	queued     []writeOp
	refused    bool      // a write was refused: the next reconcile keeps the server's document
	missed     bool      // stMerging, stMergeWait: a change from the server was ignored
	mergeAck   *writeAck // stMergeWait: the merge write awaited
	// stMerging: the server's document, kept up to date from the changes
	// received while the merge function runs, and how often it ran again.
	remote        []byte
	remoteVersion int64
	remerges      int
	waiters       []*ackWaiter // SetWithAck callers whose writes conflicted
	// replays are the transform ops (list operations) the server refused
	// with VersionExists, or whose connection dropped before the answer
	// (uncertain), in the order sent: under RemoteWins they are applied
	// again on top of the server's document instead of being lost.
	replays     []writeOp
	rebase      bool // the next write follows a refusal with no Read since: flag it Rebased
	attempts    int  // merge writes in a row that conflicted again
	subs        []*pathSub
	hooks       []delHook
	hasProvider bool       // an active provider serves the record (record listening)
	provHooks   []provHook // OnProviderChange callbacks
	notes       []note
	draining    bool

	spare []note // owned by the callback goroutine
}

func newRecord(rs *Records, name string) *localRecord {
	r := &localRecord{rs: rs, name: name, ready: make(chan struct{})}
	r.drainFn = r.drain
	return r
}

// --- callbacks ---------------------------------------------------------

// queueLocked adds a callback for the callback goroutine, in order.
func (r *localRecord) queueLocked(n note) {
	r.notes = append(r.notes, n)
	if !r.draining {
		r.draining = true
		r.rs.c.disp.call(r.drainFn)
	}
}

// drain runs the queued callbacks (callback goroutine).
func (r *localRecord) drain() {
	r.mu.Lock()
	notes := r.notes
	r.notes = r.spare[:0]
	r.draining = false
	r.mu.Unlock()
	for i := range notes {
		n := &notes[i]
		switch {
		case n.sub != nil:
			if n.sub.active.Load() {
				n.sub.fn(n.val)
			}
		case n.call != nil:
			n.call()
		}
		*n = note{}
	}
	if cap(notes) <= 4096 {
		r.spare = notes[:0]
	} else {
		r.spare = nil
	}
}

// notifyLocked queues the subscribers whose value differs between old and
// new. at is where the change was made (nil: anywhere); the caller
// guarantees the value at *at did change. erase marks an erase, which
// shifts later array elements.
//
// Documents are only scanned where needed: the values at the changed
// path are looked up once, and subscriptions below it compare within
// those values.
func (r *localRecord) notifyLocked(old, new []byte, at *jsonpath.Path, erase bool) {
	r.notifyHintLocked(old, new, at, erase, nil, false)
}

// notifyHintLocked is notifyLocked with the old value at *at already
// looked up (oldKnown), as the no-change check of a write does.
func (r *localRecord) notifyHintLocked(old, new []byte, at *jsonpath.Path, erase bool, oldHint []byte, oldKnown bool) {
	if len(r.subs) == 0 {
		return
	}
	var base jsonpath.Path
	if at != nil {
		base = *at
		if erase {
			if s := base.String(); s[len(s)-1] == ']' {
				base, oldKnown = base.Parent(), false
			}
		}
	}
	var (
		oldAt, newAt []byte
		oldOK, newOK bool
		looked       bool
	)
	for _, s := range r.subs {
		if !s.active.Load() {
			continue
		}
		if !s.path.HasPrefix(base) {
			if base.HasPrefix(s.path) { // an ancestor of a changed value changed
				nv, ok := lookup(new, s.path)
				if !ok {
					nv = nil
				}
				r.queueLocked(note{sub: s, val: nv})
			}
			continue
		}
		if !looked {
			if oldKnown {
				oldAt, oldOK = oldHint, oldHint != nil
			} else {
				oldAt, oldOK = lookup(old, base)
			}
			newAt, newOK = lookup(new, base)
			looked = true
		}
		rel := relative(s.path, base)
		var ov, nv []byte
		var ook, nok bool
		if oldOK {
			ov, ook = lookup(oldAt, rel)
		}
		if newOK {
			nv, nok = lookup(newAt, rel)
		}
		if ook == nok && (!nok || jsonpath.Equal(ov, nv)) {
			continue
		}
		if !nok {
			nv = nil
		}
		r.queueLocked(note{sub: s, val: nv})
	}
}

// lookup returns the value at p in doc (a valid document: the root is doc
// itself, without a scan).
func lookup(doc []byte, p jsonpath.Path) ([]byte, bool) {
	if p.IsRoot() {
		return doc, doc != nil
	}
	v, ok, err := p.Get(doc)
	return v, ok && err == nil
}

// relative returns p below its ancestor base.
func relative(p, base jsonpath.Path) jsonpath.Path {
	if base.IsRoot() {
		return p
	}
	s := p.String()[len(base.String()):]
	if s != "" && s[0] == '.' {
		s = s[1:]
	}
	rel, _ := jsonpath.Parse(s)
	return rel
}

// --- documents ---------------------------------------------------------

// applyOp returns doc with op applied, and whether that changed anything.
func applyOp(doc []byte, op *writeOp) ([]byte, bool, error) {
	if op.transform != nil && !sameDoc(op.from, doc) {
		v, err := op.transform(doc, op.uncertain)
		if err != nil {
			return doc, false, err
		}
		op.value, op.owned, op.from = v, true, doc
	}
	switch {
	case op.kind == opSet && op.path.IsRoot():
		if jsonpath.Equal(doc, op.value) {
			return doc, false, nil
		}
		if !op.owned { // the document must be ours: it is never modified
			return append([]byte(nil), op.value...), true, nil
		}
		return op.value, true, nil
	case op.kind == opSet:
		if cur, ok, err := op.path.Get(doc); err == nil && ok && jsonpath.Equal(cur, op.value) {
			return doc, false, nil
		}
		out, err := op.path.Set(make([]byte, 0, len(doc)+len(op.value)+len(op.path.String())+8), doc, op.value)
		return out, err == nil, err
	default:
		if _, ok, err := op.path.Get(doc); err == nil && !ok {
			return doc, false, nil
		}
		out, err := op.path.Erase(make([]byte, 0, len(doc)), doc)
		return out, err == nil, err
	}
}

// sameDoc reports whether a and b are the same document slice.
func sameDoc(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// isContainer reports whether b (valid JSON) is an object or array.
func isContainer(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// --- sending -----------------------------------------------------------

// liveLocked returns the connection writes go to, or nil when the record
// is not in step on the current connection.
func (r *localRecord) liveLocked() *conn.Conn {
	cn := r.rs.c.cur.Load()
	if r.state != stSynced || cn == nil || cn != r.conn {
		return nil
	}
	return cn
}

// sendOpLocked sends op as version; wait selects flow control (SendWait),
// which callers on the reader goroutine must not use.
func (r *localRecord) sendOpLocked(cn *conn.Conn, op *writeOp, version int64, wait bool) error {
	m := msg.Msg{Topic: fb.TopicRecord, Name: r.name, Version: version, HasVersion: true}
	switch {
	case op.kind == opSet && op.path.IsRoot():
		m.Action, m.Data = fb.ActionUpdate, op.value
	case op.kind == opSet:
		m.Action, m.Path, m.Data = fb.ActionPatch, op.path.String(), op.value
	default:
		m.Action, m.Path = fb.ActionErasePath, op.path.String()
	}
	if r.rebase {
		m.Flags |= fb.FlagsRebased
		r.rebase = false
	}
	var id uint64
	if op.ack != nil || op.transform != nil {
		// A transform op is tracked too, to learn whether it landed.
		wa := &writeAck{r: r}
		if op.ack != nil {
			wa.waiters = []*ackWaiter{op.ack}
		}
		if op.transform != nil {
			replay := *op
			replay.ack = nil
			wa.replay = &replay
		}
		id = r.rs.c.tracker.Add(cn, wa.done)
		m.ID = id
		m.Flags |= fb.FlagsWantAck
	}
	var err error
	if wait {
		err = cn.SendWait(&m)
	} else {
		err = cn.Send(&m)
	}
	if err != nil && id != 0 {
		r.rs.c.tracker.Cancel(id)
	}
	return err
}

// applyLocked applies a local write: to the document at once, and to the
// server at once when the record is in step on a live connection, else
// queued. notify fires the path subscriptions for it.
func (r *localRecord) applyLocked(op writeOp, notify, wait bool) error {
	doc, changed, err := applyOp(r.data, &op)
	if err != nil {
		return r.opError(err)
	}
	if !changed {
		if op.ack != nil {
			op.ack.resolve(nil)
		}
		return nil
	}
	if r.state == stSynced {
		cn := r.liveLocked()
		if cn != nil {
			err := r.sendOpLocked(cn, &op, r.version+1, wait)
			if err == nil {
				old := r.data
				r.version++
				r.data = doc
				if notify {
					r.notifyLocked(old, doc, &op.path, op.kind == opErase)
				}
				return nil
			}
			if !errors.Is(err, conn.ErrClosed) {
				return r.rs.c.sendErr(err)
			}
		}
		// Not in step on the current connection (or it is ending): read
		// the record again there and send this write after.
		r.resyncLocked(r.rs.c.cur.Load())
	}
	if len(r.queued) >= MaxQueuedWrites {
		return ErrWriteQueueFull
	}
	if _, err := r.rs.c.live(); errors.Is(err, ErrClosed) {
		return err
	}
	if !op.owned {
		op.value, op.owned = append([]byte(nil), op.value...), true
	}
	old := r.data
	r.data = doc
	r.queued = append(r.queued, op)
	if notify {
		r.notifyLocked(old, doc, &op.path, op.kind == opErase)
	}
	return nil
}

func (r *localRecord) opError(err error) error {
	var code protocol.Code
	switch {
	case errors.Is(err, ErrInvalidDocument):
		return err
	case errors.Is(err, jsonpath.ErrSyntax), errors.Is(err, jsonpath.ErrRoot):
		code = protocol.CodeInvalidPath
	default:
		code = protocol.CodeInvalidData
	}
	return &Error{Code: code, Op: "write", Name: r.name, Reason: err.Error()}
}

// --- reading -------------------------------------------------------------

// sendReadLocked sends a Read on cn: with the local version when the local
// document is the server's at that version (the server then omits the
// data if nothing changed), else with none.
func (r *localRecord) sendReadLocked(cn *conn.Conn, full bool) {
	if cn == nil {
		return
	}
	var known int64
	if !full && r.state == stResync && r.preVersion == r.confirmed {
		known = r.preVersion
	}
	r.rebase = false // the Read ends the server's hold
	rd := &readOp{r: r, cn: cn, known: known}
	id := r.rs.c.tracker.Add(cn, rd.done)
	m := msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: id, Name: r.name, Version: known}
	if cn.Send(&m) != nil {
		r.rs.c.tracker.Cancel(id)
		return
	}
	r.read, r.conn = rd, cn
}

// resyncLocked stops sending writes until the record is read again on cn
// (or on the next connection when cn is nil) and reconciled.
func (r *localRecord) resyncLocked(cn *conn.Conn) {
	switch r.state {
	case stSynced:
		r.state = stResync
		r.pre, r.preVersion = r.data, r.version
		r.rs.c.opts.logger.Debug("eddy: record resync", "name", r.name, "version", r.version, "confirmed", r.confirmed)
	case stResync, stLoading:
	default:
		return
	}
	if cn != nil && cn.Err() == nil && (r.read == nil || r.read.cn != cn) {
		r.sendReadLocked(cn, false)
	}
}

// conflictLocked handles proof that one of our writes lost a race.
func (r *localRecord) conflictLocked(cn *conn.Conn) {
	if r.state == stSynced && cn == r.conn {
		r.resyncLocked(cn)
	}
}

// done receives the answer to a Read (reader or supervisor goroutine).
func (rd *readOp) done(v *msg.View, err error) {
	r := rd.r
	r.mu.Lock()
	if r.read != rd {
		r.mu.Unlock()
		return
	}
	r.read = nil
	if r.state == stGone {
		// Discarded while loading: the server may have subscribed us after
		// the Unsubscribe if it had to load the record first.
		orphan := err == nil && v.Action() == fb.ActionReadResult && errors.Is(r.goneErr, ErrRecordDiscarded)
		r.mu.Unlock()
		if orphan {
			r.rs.unsubscribeOrphan(rd.cn, r.name)
		}
		return
	}
	if err != nil {
		// A lost connection is read again on the next one; a closed client
		// ends loading.
		if r.state == stLoading && errors.Is(err, ErrClosed) {
			r.failLoadLocked(err)
			r.mu.Unlock()
			r.rs.remove(r)
			return
		}
		r.mu.Unlock()
		return
	}
	if v.Action() == fb.ActionError {
		e := &Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: "read", Name: r.name}
		if r.state == stLoading {
			r.failLoadLocked(e)
			r.mu.Unlock()
			r.rs.remove(r)
			return
		}
		r.mu.Unlock()
		r.rs.c.reportError(e)
		return
	}
	if v.Action() != fb.ActionReadResult {
		r.mu.Unlock()
		return
	}
	version := v.Version()
	var data []byte
	if d := v.DataBytes(); d != nil {
		data = append([]byte(nil), d...)
	}
	switch r.state {
	case stLoading:
		if data == nil || jsonpath.Valid(data) != nil || !isContainer(data) {
			data = []byte("{}")
		}
		r.version, r.confirmed, r.data = version, version, data
		r.state = stSynced
		close(r.ready)
	case stResync:
		r.reconcileLocked(rd, version, data)
	}
	r.mu.Unlock()
}

func (r *localRecord) failLoadLocked(err error) {
	r.state = stGone
	r.loadErr, r.goneErr = err, err
	close(r.ready)
}

// reconcileLocked brings the record back in step with the server's
// version and document (nil: unchanged since rd.known).
func (r *localRecord) reconcileLocked(rd *readOp, version int64, remote []byte) {
	visible := r.data
	r.rs.c.opts.logger.Debug("eddy: record read again", "name", r.name, "version", version, "known", rd.known,
		"data", remote != nil, "local", r.preVersion, "confirmed", r.confirmed, "refused", r.refused)
	if remote == nil {
		if rd.known == 0 || version != rd.known {
			// The server is behind what we sent: ask for its document.
			r.sendReadLocked(rd.cn, true)
			return
		}
		r.adoptLocked(version, r.pre, visible)
		return
	}
	r.resolveLocked(rd.cn, version, remote, visible)
}

// resolveLocked reconciles the local intent (pre, preVersion) with the
// server's version and document: adopt it, or merge and write.
func (r *localRecord) resolveLocked(cn *conn.Conn, version int64, remote, visible []byte) {
	if jsonpath.Valid(remote) != nil || !isContainer(remote) {
		r.rs.c.reportError(fmt.Errorf("%w: record %q: server sent a document that is not a JSON object or array", ErrProtocol, r.name))
		remote = []byte("{}")
	}
	replays := r.replays
	r.replays = nil
	if r.refused || r.preVersion == r.confirmed || jsonpath.Equal(r.pre, remote) {
		r.adoptLocked(version, remote, visible)
		return
	}
	s := r.rs.merge.strategy(r.name)
	switch {
	case s.local:
		r.writeMergedLocked(cn, version, remote, r.pre, visible)
	case s.fn == nil:
		// The server's document wins; list operations it refused are
		// applied again on top of it, before the writes queued since.
		if len(replays) > 0 {
			r.queued = append(replays, r.queued...)
		}
		r.adoptLocked(version, remote, visible)
	default:
		r.state, r.missed, r.remerges = stMerging, false, 0
		r.remote, r.remoteVersion = remote, version
		r.startMergeLocked(s.fn)
	}
}

// startMergeLocked runs fn on the callback goroutine over the local intent
// and the server's latest document.
func (r *localRecord) startMergeLocked(fn MergeFunc) {
	local, localVersion, remote, version := r.pre, r.preVersion, r.remote, r.remoteVersion
	r.queueLocked(note{call: func() {
		merged, err := fn(local, remote, localVersion, version)
		r.mergeDone(fn, version, remote, merged, err)
	}})
}

// mergeDone takes a MergeWith result (callback goroutine).
func (r *localRecord) mergeDone(fn MergeFunc, version int64, remote, merged []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != stMerging {
		return
	}
	if moved := r.remoteVersion != version; moved {
		if !r.missed && r.remerges < MaxMergeAttempts {
			// The server moved on while fn ran: merge with its newer
			// document (followed from the changes received meanwhile).
			r.remerges++
			r.startMergeLocked(fn)
			return
		}
		// merged is based on an older document than the server's: it is
		// not written; the record is read and merged again.
		r.missed = true
	}
	visible := r.data
	if err == nil && (jsonpath.Valid(merged) != nil || !isContainer(merged)) {
		err = errors.New("merge result is not a JSON object or array")
	}
	if err != nil {
		e := &Error{Code: protocol.CodeVersionExists, Op: "merge", Name: r.name, Reason: err.Error()}
		r.rs.c.reportError(e)
		r.settleWaitersLocked(e)
		r.adoptLocked(version, remote, visible)
	} else {
		merged = append([]byte(nil), merged...)
		r.writeMergedLocked(r.rs.c.cur.Load(), version, remote, merged, visible)
	}
}

// adoptLocked takes the server's version and document, then sends the
// queued writes on top.
func (r *localRecord) adoptLocked(version int64, doc, visible []byte) {
	missed := r.state == stMerging && r.missed
	var werr error
	if !jsonpath.Equal(r.pre, doc) {
		werr = &Error{Code: protocol.CodeVersionExists, Op: "write", Name: r.name, Reason: "a concurrent write was kept"}
	}
	r.settleWaitersLocked(werr)
	r.version, r.confirmed, r.attempts = version, version, 0
	if !missed {
		r.finishLocked(doc, visible)
		return
	}
	// Changes after version were ignored while a merge function ran: read
	// them before sending the queued writes.
	r.state, r.missed, r.read = stResync, false, nil
	r.pre, r.preVersion = doc, version
	r.data = withQueued(doc, r.queued)
	r.notifyLocked(visible, r.data, nil, false)
	r.resyncLocked(r.rs.c.cur.Load())
}

// withQueued returns doc with the queued writes applied.
func withQueued(doc []byte, queued []writeOp) []byte {
	for i := range queued {
		if next, _, err := applyOp(doc, &queued[i]); err == nil {
			doc = next
		}
	}
	return doc
}

// writeMergedLocked writes merged over remote as version+1 (or keeps
// remote when they are equal, or when merges keep failing). When changes
// were missed while a MergeWith function ran, or the connection changed,
// the merged document is merged again with a fresh read instead: writing
// it now would only conflict, and the missed changes would make later
// versions look in step.
func (r *localRecord) writeMergedLocked(cn *conn.Conn, version int64, remote, merged, visible []byte) {
	if jsonpath.Equal(merged, remote) {
		r.adoptLocked(version, remote, visible)
		return
	}
	if r.attempts >= MaxMergeAttempts {
		e := &Error{Code: protocol.CodeVersionExists, Op: "merge", Name: r.name,
			Reason: fmt.Sprintf("still conflicting after %d merges; kept the server's version", MaxMergeAttempts)}
		r.rs.c.reportError(e)
		r.settleWaitersLocked(e)
		r.adoptLocked(version, remote, visible)
		return
	}
	if (r.state == stMerging && r.missed) || cn == nil || cn != r.conn || cn != r.rs.c.cur.Load() {
		r.attempts++
		r.rereadLocked(version, merged)
		return
	}
	wa := &writeAck{r: r, waiters: r.waiters, merge: true}
	r.waiters = nil
	r.rs.c.opts.logger.Debug("eddy: record merge write", "name", r.name, "version", version+1, "attempts", r.attempts)
	id := r.rs.c.tracker.Add(cn, wa.done)
	m := msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: id, Flags: fb.FlagsWantAck,
		Name: r.name, Version: version + 1, HasVersion: true, Data: merged}
	if r.rebase {
		m.Flags |= fb.FlagsRebased
		r.rebase = false
	}
	if err := cn.Send(&m); err != nil {
		r.rs.c.tracker.Cancel(id)
		r.waiters = wa.waiters
		r.rereadLocked(version, merged)
		return
	}
	r.version, r.confirmed = version+1, version
	r.state, r.mergeAck, r.missed = stMergeWait, wa, false
	r.pre, r.preVersion = merged, version+1
	doc := withQueued(merged, r.queued)
	r.data = doc
	r.notifyLocked(visible, doc, nil, false)
}

// landedLocked ends stMergeWait: the merge write landed; base (the merged
// document, or it with later changes) is the server's at version.
func (r *localRecord) landedLocked(base []byte, version int64) {
	r.mergeAck, r.attempts = nil, 0
	r.version, r.confirmed = version, version
	r.finishLocked(base, r.data)
}

// abandonMergeLocked leaves stMergeWait for stResync: the merged document
// stays the local side of the next merge; a Read is sent on cn (nil:
// later, by the reconnect).
func (r *localRecord) abandonMergeLocked(cn *conn.Conn) {
	r.state, r.mergeAck, r.read = stResync, nil, nil
	r.resyncLocked(cn)
}

// rereadLocked makes merged (a resolution of the server's version) the
// local side of the next merge and reads the record again.
func (r *localRecord) rereadLocked(version int64, merged []byte) {
	r.state = stResync
	r.pre, r.preVersion, r.confirmed = merged, version+1, version
	r.read, r.missed = nil, false
	r.resyncLocked(r.rs.c.cur.Load())
}

// finishLocked makes base the synced document, sends the queued writes on
// top and tells subscribers what changed since visible.
func (r *localRecord) finishLocked(base, visible []byte) {
	r.state = stSynced
	r.data, r.pre, r.preVersion = base, nil, 0
	r.refused, r.missed = false, false
	ops := r.queued
	// Refusals still waiting here were resolved by a merge (the strategy's
	// result is what stands) or are among ops already.
	r.queued, r.replays = nil, nil
	for _, op := range ops {
		if err := r.applyLocked(op, false, false); err != nil {
			if op.ack != nil {
				op.ack.resolve(err)
			} else {
				r.rs.c.reportError(err)
			}
		}
	}
	r.notifyLocked(visible, r.data, nil, false)
}

// settleWaitersLocked resolves the SetWithAck callers whose writes
// conflicted.
func (r *localRecord) settleWaitersLocked(err error) {
	for _, w := range r.waiters {
		w.resolve(err)
	}
	r.waiters = nil
}

// --- incoming ----------------------------------------------------------

// remoteLocked applies a change from another writer.
func (r *localRecord) remoteLocked(cn *conn.Conn, v *msg.View) {
	if cn != r.conn {
		return
	}
	version := v.Version()
	switch r.state {
	case stMerging:
		if r.missed || version != r.remoteVersion+1 {
			r.missed = true
			return
		}
		doc, _, _, same, _, err := applyRemote(r.remote, v)
		if err != nil {
			r.missed = true
			return
		}
		if !same {
			r.remote = doc
		}
		r.remoteVersion = version
		return
	case stMergeWait:
		switch {
		case r.missed || version <= r.version:
			// Someone else took the merge write's version: its
			// VersionExists, coming after every change up to the server's
			// version, resolves it.
			r.missed = true
		case version > r.version+1:
			r.abandonMergeLocked(cn)
		default: // the version after the merge write: it landed
			doc, _, _, same, _, err := applyRemote(r.pre, v)
			if err != nil {
				r.abandonMergeLocked(cn)
				return
			}
			if same {
				doc = r.pre
			}
			r.landedLocked(doc, version)
		}
		return
	case stSynced:
	default:
		return
	}
	switch {
	case version <= r.confirmed:
		return
	case version <= r.version: // someone else took a version one of our writes used
		r.resyncLocked(cn)
		return
	case version > r.version+1: // a gap
		r.resyncLocked(cn)
		return
	}
	old := r.data
	doc, at, erase, same, oldAt, err := applyRemote(old, v)
	if err != nil {
		r.rs.c.opts.logger.Warn("eddy: bad record change from server", "name", r.name, "err", err)
		r.resyncLocked(cn)
		return
	}
	r.version, r.confirmed = version, version
	if same {
		return
	}
	r.data = doc
	if v.Action() == fb.ActionUpdate {
		r.notifyLocked(old, doc, nil, false)
	} else {
		// at aliases the message; notes keep only values of doc.
		r.notifyHintLocked(old, doc, &at, erase, oldAt, true)
	}
}

// applyRemote applies a change from the server to doc. at aliases v.
func applyRemote(old []byte, v *msg.View) (doc []byte, at jsonpath.Path, erase, same bool, oldAt []byte, err error) {
	switch v.Action() {
	case fb.ActionUpdate:
		doc = v.DataBytes()
		if err = jsonpath.Valid(doc); err == nil && !isContainer(doc) {
			err = ErrInvalidDocument
		}
		if err == nil {
			same = jsonpath.Equal(old, doc)
			doc = append([]byte(nil), doc...)
		}
	case fb.ActionPatch:
		if at, err = jsonpath.Parse(v.PathString()); err == nil {
			value := v.DataBytes()
			cur, ok, _ := at.Get(old)
			if ok {
				oldAt = cur
			}
			if ok && !distinctPlainStrings(cur, value) && jsonpath.Equal(cur, value) {
				same = true
			} else {
				doc, err = at.Set(make([]byte, 0, len(old)+len(value)+len(v.Path())+8), old, value)
				if at.IsRoot() && err == nil && !isContainer(doc) {
					err = ErrInvalidDocument
				}
			}
		}
	case fb.ActionErasePath:
		if at, err = jsonpath.Parse(v.PathString()); err == nil {
			if cur, ok, _ := at.Get(old); !ok {
				same = true
			} else {
				oldAt = cur
				doc, err = at.Erase(make([]byte, 0, len(old)), old)
				erase = true
			}
		}
	default:
		err = fmt.Errorf("%w: record change %v", ErrProtocol, v.Action())
	}
	return doc, at, erase, same, oldAt, err
}

// distinctPlainStrings reports whether a and b are JSON strings without
// escapes (nor surrounding space) whose bytes differ: then they denote
// different strings, and Equal, which would validate both, is not needed
// (Set validates the new value).
func distinctPlainStrings(a, b []byte) bool {
	plain := func(s []byte) bool {
		return len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && bytes.IndexByte(s, '\\') < 0
	}
	return string(a) != string(b) && plain(a) && plain(b)
}

// goneLocked takes the record out of service: deleted (OnDelete hooks
// fire) or discarded. The caller removes it from the table.
func (r *localRecord) goneLocked(err error, deleted bool) {
	if r.state == stGone {
		return
	}
	if r.state == stLoading {
		r.loadErr = err
		close(r.ready)
	}
	r.state, r.goneErr = stGone, err
	r.settleWaitersLocked(err)
	for _, op := range r.queued {
		if op.ack != nil {
			op.ack.resolve(err)
		}
	}
	r.queued, r.replays = nil, nil
	if deleted {
		for _, h := range r.hooks {
			r.queueLocked(note{call: h.fn})
		}
	}
}

// writeAck resolves SetWithAck callers (and tracks merge writes) when the
// server answers a write sent with WantAck.
type writeAck struct {
	r       *localRecord
	waiters []*ackWaiter
	merge   bool
	replay  *writeOp // a transform op: applied again if refused
}

func (wa *writeAck) done(v *msg.View, err error) {
	r := wa.r
	r.mu.Lock()
	defer r.mu.Unlock()
	pending := wa.merge && r.state == stMergeWait && r.mergeAck == wa
	switch {
	case err != nil: // connection lost or client closed: the write may or may not have landed
		for _, w := range wa.waiters {
			w.resolve(err)
		}
		if wa.replay != nil && r.state != stGone {
			op := *wa.replay
			op.uncertain = true
			r.replays = append(r.replays, op)
		}
		if pending {
			r.abandonMergeLocked(nil)
		}
	case v.Action() == fb.ActionWriteAck:
		if wa.merge {
			r.attempts = 0
		}
		for _, w := range wa.waiters {
			w.resolve(nil)
		}
		if pending {
			r.landedLocked(r.pre, r.preVersion)
		}
	case v.Action() == fb.ActionVersionExists:
		if r.state == stGone {
			for _, w := range wa.waiters {
				w.resolve(r.goneErr)
			}
			return
		}
		r.waiters = append(r.waiters, wa.waiters...)
		if wa.replay != nil {
			op := *wa.replay
			op.uncertain = false // refused: it did not land
			r.replays = append(r.replays, op)
		}
		if wa.merge {
			r.attempts++
		}
		if !pending {
			r.conflictLocked(r.conn)
			return
		}
		// Every change up to the server's version came before this answer
		// (and was ignored): merge with the server's document now. The
		// server holds this connection's next write back unless it says
		// it was computed after the refusal.
		remote := append([]byte(nil), v.DataBytes()...)
		r.state, r.mergeAck, r.read = stResync, nil, nil
		r.rebase = true
		r.resolveLocked(r.conn, v.Version(), remote, r.data)
	default:
		e := &Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: "write", Name: r.name}
		if v.Action() != fb.ActionError {
			e = &Error{Code: protocol.CodeProtocolError, Op: "write", Name: r.name, Reason: "unexpected answer " + v.Action().String()}
		}
		for _, w := range wa.waiters {
			w.resolve(e)
		}
		r.refusedLocked()
	}
}

// refusedLocked handles a write the server refused: read the record again
// and keep the server's document.
func (r *localRecord) refusedLocked() {
	if r.state == stGone || r.state == stLoading {
		return
	}
	r.refused = true
	switch r.state {
	case stSynced:
		r.resyncLocked(r.conn)
	case stMergeWait:
		r.abandonMergeLocked(r.conn)
	}
}
