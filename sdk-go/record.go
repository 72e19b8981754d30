package eddy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
	"github.com/eddy-realtime/eddy/sdk-go/internal/track"
)

// Records is the client's record API (Client.Record): named JSON documents
// (objects or arrays) with versions, kept in step with the server and with
// every other client that holds them.
//
// # Holding records
//
// Get returns a handle to the client's copy of a record, subscribed on the
// server (Record/Read). Several Gets of one name share one copy; it is
// released, and the server subscription with it, when the last handle is
// discarded (Record/Unsubscribe). Has, Head, Snapshot, SetData and
// EraseData work without holding the record. GetList wraps a record
// holding an array of names; GetAnonymousRecord gives a handle whose name
// can change.
//
// # Writes and changes
//
// A write (Record.Set, SetPath, Erase) changes the local copy at once, and
// this client's path subscriptions whose values changed fire; it is sent as
// version local+1 (Update for the whole document, Patch for a path,
// ErasePath). A change from another writer is applied when its version is
// local+1; an older one is ignored; after a gap the record is read again
// and the copy replaced. Path subscriptions fire only when the value at
// their path changed (deep comparison), once per change, in version order,
// on the client's callback goroutine.
//
// # Conflicts
//
// A write whose version another writer took first is answered with
// VersionExists. The client then reads the record again (or takes the
// server's document from the VersionExists of a merge write) and resolves
// the conflict with the record's MergeStrategy: RemoteWins (the default)
// keeps the server's document and drops the local changes that had not
// landed; LocalWins writes the local document as the next version;
// MergeWith(fn) writes what fn returns. Writes made meanwhile are queued
// and sent after, on top. A merge write that conflicts again is merged
// again, at most MaxMergeAttempts times in a row; then the server's
// document is kept and an *Error matching ErrVersionConflict goes to the
// error handler. A write the server refuses (permissions, for example) is
// reported to the error handler (or to its SetWithAck caller) and the
// record is read again: the server's document replaces the local one.
//
// # Reconnecting
//
// After a reconnect every held record is read again before the client
// reports Open, naming the version it holds so that the server omits the
// document when nothing changed; the copy is then replaced or merged (when
// it holds writes the server may not have received) and the path
// subscriptions whose values changed fire. Writes made while disconnected
// are applied locally and queued (at most MaxQueuedWrites per record), and
// sent once the record has been read again, on top of the server's
// document. Get waits for the connection; Has, Head, Snapshot, SetData,
// EraseData and Delete return ErrNotConnected while it is down.
//
// # Deleting
//
// Record.Delete deletes the record on the server; other holders are told.
// Either way every handle's OnDelete callbacks run, writes fail with
// ErrRecordDeleted, and a later Get starts a new record at version 0.
//
// Every method is safe from any goroutine, callbacks included; but a call
// that waits (Get, SetWithAck, Delete...) from a callback holds up the
// callback goroutine, and with it every other callback and MergeWith
// function, until it returns.
type Records struct {
	c     *Client
	merge mergeRules

	mu   sync.RWMutex
	recs map[string]*localRecord

	listen listening // Listen and Unlisten (listen.go)
}

func newRecords(c *Client) *Records {
	rs := &Records{c: c, recs: make(map[string]*localRecord)}
	rs.listen.c, rs.listen.topic = c, fb.TopicRecord
	rs.merge.global = c.opts.recordMerge
	return rs
}

// Snapshot is a record's version and document at one moment.
type Snapshot struct {
	Version int64
	Data    json.RawMessage
}

func checkRecordName(op, name string) error {
	if name == "" || !utf8.ValidString(name) {
		return &Error{Code: protocol.CodeInvalidName, Op: op, Name: name, Reason: "record name is empty or not valid UTF-8"}
	}
	return nil
}

// Get returns a handle to the record called name, creating the record
// ({} at version 0) if it does not exist, and subscribes to its changes.
// It returns once the record has been read from the server, or with the
// server's refusal (an *Error), or when ctx ends. While the client is
// reconnecting it waits for the connection (bounded by ctx).
//
// Every handle must be discarded (Record.Discard) when no longer needed.
func (rs *Records) Get(ctx context.Context, name string) (*Record, error) {
	if err := checkRecordName("read", name); err != nil {
		return nil, err
	}
	if _, err := rs.c.live(); errors.Is(err, ErrClosed) {
		return nil, err
	}
	r := rs.acquire(name)
	r.mu.Lock()
	if r.state == stLoading && r.read == nil {
		if cn := rs.c.cur.Load(); cn != nil {
			r.sendReadLocked(cn, true)
		}
	}
	r.mu.Unlock()
	select {
	case <-r.ready:
	case <-ctx.Done():
		rs.release(r)
		return nil, wrapErr(fmt.Sprintf("read %q", name), ctx.Err())
	case <-rs.c.done:
		rs.release(r)
		return nil, ErrClosed
	}
	if r.loadErr != nil {
		rs.release(r)
		return nil, r.loadErr
	}
	return &Record{r: r}, nil
}

// acquire returns the live record for name (creating it), counting one
// more reference.
func (rs *Records) acquire(name string) *localRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.recs[name]
	if r != nil {
		r.mu.Lock()
		gone := r.state == stGone
		r.mu.Unlock()
		if gone {
			r = nil
		}
	}
	if r == nil {
		r = newRecord(rs, name)
		rs.recs[name] = r
	}
	r.refs++
	return r
}

// release drops one reference; the last one takes the record out of the
// table and unsubscribes.
func (rs *Records) release(r *localRecord) {
	rs.mu.Lock()
	r.refs--
	last := r.refs == 0
	if last && rs.recs[r.name] == r {
		delete(rs.recs, r.name)
	}
	rs.mu.Unlock()
	if !last {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == stGone {
		return
	}
	loading := r.state == stLoading
	r.goneLocked(ErrRecordDiscarded, false)
	if loading {
		return // unsubscribed when the Read's answer arrives
	}
	if cn := rs.c.cur.Load(); cn != nil && cn == r.conn {
		rs.sendUnsubscribe(cn, r.name)
	}
}

// remove takes r out of the table if it is still there.
func (rs *Records) remove(r *localRecord) {
	rs.mu.Lock()
	if rs.recs[r.name] == r {
		delete(rs.recs, r.name)
	}
	rs.mu.Unlock()
}

func (rs *Records) sendUnsubscribe(cn *conn.Conn, name string) {
	id := rs.c.tracker.Add(cn, rs.backgroundAnswer("unsubscribe"))
	if cn.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUnsubscribe, ID: id, Name: name}) != nil {
		rs.c.tracker.Cancel(id)
	}
}

// unsubscribeOrphan unsubscribes name on cn unless a record of that name
// is held again.
func (rs *Records) unsubscribeOrphan(cn *conn.Conn, name string) {
	rs.mu.RLock()
	_, held := rs.recs[name]
	rs.mu.RUnlock()
	if !held && cn.Err() == nil {
		rs.sendUnsubscribe(cn, name)
	}
}

// backgroundAnswer reports refusals of requests nobody waits for.
func (rs *Records) backgroundAnswer(op string) track.Func {
	return func(v *msg.View, err error) {
		if err != nil || v.Action() != fb.ActionError || protocol.Code(v.Code()) == protocol.CodeNotSubscribed {
			return
		}
		rs.c.reportError(&Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: op, Name: string(v.Name())})
	}
}

// lookup returns the record held under name (nil if none).
func (rs *Records) lookup(name []byte) *localRecord {
	rs.mu.RLock()
	r := rs.recs[string(name)]
	rs.mu.RUnlock()
	return r
}

// onMessage handles Record messages (reader goroutine): answers to
// requests go to the tracker, changes and notices to their record.
func (rs *Records) onMessage(cn *conn.Conn, v *msg.View) {
	if id := v.Id(); id != 0 && rs.c.tracker.Resolve(id, v) {
		return
	}
	if a := v.Action(); a == fb.ActionSubscriptionFound || a == fb.ActionSubscriptionRemoved {
		rs.listen.onListen(cn, v)
		return
	}
	r := rs.lookup(v.Name())
	if r == nil {
		return
	}
	if v.Action() == fb.ActionSubscriptionHasProvider {
		r.mu.Lock()
		r.setProviderLocked(v.Version() == 1)
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	deleted := false
	switch v.Action() {
	case fb.ActionUpdate, fb.ActionPatch, fb.ActionErasePath:
		r.remoteLocked(cn, v)
	case fb.ActionVersionExists:
		r.conflictLocked(cn)
	case fb.ActionDeleted:
		if r.state != stGone {
			r.goneLocked(ErrRecordDeleted, true)
			deleted = true
		}
	default:
		rs.c.opts.logger.Debug("eddy: unexpected record message", "action", v.Action(), "name", r.name)
	}
	r.mu.Unlock()
	if deleted {
		rs.remove(r)
	}
}

// onError sees every Record error no request was waiting for (reader
// goroutine): a write sent without WantAck was refused, so the record is
// read again and the server's document kept. The client reports the
// error to the error handler as well.
func (rs *Records) onError(_ *conn.Conn, v *msg.View) {
	r := rs.lookup(v.Name())
	if r == nil {
		return
	}
	r.mu.Lock()
	r.refusedLocked()
	r.mu.Unlock()
}

// resubscribe reads every held record again on a new connection (the
// supervisor goroutine, before the client reports Open).
func (rs *Records) resubscribe(cn *conn.Conn) {
	rs.mu.RLock()
	list := make([]*localRecord, 0, len(rs.recs))
	for _, r := range rs.recs {
		list = append(list, r)
	}
	rs.mu.RUnlock()
	for _, r := range list {
		r.mu.Lock()
		// The server tells a resubscribed record again if it has a provider.
		r.setProviderLocked(false)
		switch r.state {
		case stLoading:
			if r.read == nil || r.read.cn != cn {
				r.sendReadLocked(cn, true)
			}
		case stSynced:
			if r.conn != cn { // not already read on cn by a write or Get
				r.resyncLocked(cn)
			}
		case stResync:
			r.resyncLocked(cn)
		case stMergeWait: // the merge write's answer was lost with its connection
			r.abandonMergeLocked(cn)
		}
		r.mu.Unlock()
	}
}

// request sends m with a fresh id and waits for the answer.
func (rs *Records) request(ctx context.Context, op string, m *msg.Msg) (track.Reply, error) {
	cn, err := rs.c.live()
	if err != nil {
		return track.Reply{}, err
	}
	w, fn := track.NewWaiter()
	m.ID = rs.c.tracker.Add(cn, fn)
	if err := cn.Send(m); err != nil {
		rs.c.tracker.Cancel(m.ID)
		return track.Reply{}, rs.c.sendErr(err)
	}
	r, err := w.Wait(ctx)
	switch {
	case err != nil:
		rs.c.tracker.Cancel(m.ID)
		return r, wrapErr(fmt.Sprintf("%s %q", op, m.Name), err)
	case r.Err != nil:
		return r, r.Err
	case r.Action == fb.ActionError:
		return r, &Error{Code: protocol.Code(r.Code), Reason: r.Reason, Op: op, Name: m.Name}
	}
	return r, nil
}

// Has reports whether the record called name exists on the server. It
// does not create or subscribe to it. While the client is reconnecting it
// returns ErrNotConnected.
func (rs *Records) Has(ctx context.Context, name string) (bool, error) {
	if err := checkRecordName("has", name); err != nil {
		return false, err
	}
	r, err := rs.request(ctx, "has", &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionHas, Name: name})
	if err != nil {
		return false, err
	}
	return r.Version == 1, nil
}

// Head returns the server's version of the record called name without its
// document, or -1 when the record does not exist. It does not create or
// subscribe to it.
func (rs *Records) Head(ctx context.Context, name string) (int64, error) {
	if err := checkRecordName("head", name); err != nil {
		return 0, err
	}
	r, err := rs.request(ctx, "head", &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionHead, Name: name})
	if err != nil {
		return 0, err
	}
	return r.Version, nil
}

// Snapshot returns the server's version and document of the record called
// name without subscribing; a missing record is an error matching
// ErrRecordNotFound.
func (rs *Records) Snapshot(ctx context.Context, name string) (Snapshot, error) {
	if err := checkRecordName("snapshot", name); err != nil {
		return Snapshot{}, err
	}
	r, err := rs.request(ctx, "snapshot", &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSnapshot, Name: name})
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Version: r.Version, Data: r.Data}, nil
}

// SetData writes value (marshalled with encoding/json; a json.RawMessage
// is sent as it is) at path in the record called name without holding it:
// path "" replaces the whole document, which must then be an object or
// array. The record is created if it does not exist. The write skips the
// version check (the server gives it the next version) and SetData returns
// once it is durable. If this client holds the record, its copy takes the
// change too.
func (rs *Records) SetData(ctx context.Context, name, path string, value any) error {
	return rs.forced(ctx, name, path, value, opSet)
}

// EraseData removes path from the record called name without holding it,
// as SetData writes.
func (rs *Records) EraseData(ctx context.Context, name, path string) error {
	return rs.forced(ctx, name, path, nil, opErase)
}

func (rs *Records) forced(ctx context.Context, name, path string, value any, kind opKind) error {
	if err := checkRecordName("write", name); err != nil {
		return err
	}
	op, err := makeOp(name, kind, path, value)
	if err != nil {
		return err
	}
	m := msg.Msg{Topic: fb.TopicRecord, Name: name, Flags: fb.FlagsForced | fb.FlagsWantAck}
	switch {
	case kind == opErase:
		m.Action, m.Path = fb.ActionErasePath, path
	case path == "":
		m.Action, m.Data = fb.ActionUpdate, op.value
	default:
		m.Action, m.Path, m.Data = fb.ActionPatch, path, op.value
	}
	r, err := rs.request(ctx, "write", &m)
	if err != nil {
		return err
	}
	if r.Action != fb.ActionWriteAck {
		return &Error{Code: protocol.CodeProtocolError, Op: "write", Name: name, Reason: "unexpected answer " + r.Action.String()}
	}
	if rec := rs.lookup([]byte(name)); rec != nil {
		rec.mu.Lock()
		rec.forcedLocked(&op, r.Version)
		rec.mu.Unlock()
	}
	return nil
}

// forcedLocked applies this client's own forced write, acknowledged as
// version, to the local copy (the server does not echo it).
func (r *localRecord) forcedLocked(op *writeOp, version int64) {
	if r.state != stSynced || version <= r.version {
		return
	}
	if version > r.version+1 || r.version != r.confirmed {
		r.resyncLocked(r.rs.c.cur.Load())
		return
	}
	old := r.data
	doc, changed, err := applyOp(old, op)
	if err != nil {
		r.resyncLocked(r.rs.c.cur.Load())
		return
	}
	r.version, r.confirmed = version, version
	if changed {
		r.data = doc
		r.notifyLocked(old, doc, &op.path, op.kind == opErase)
	}
}

// makeOp validates a write and marshals its value.
func makeOp(name string, kind opKind, path string, value any) (writeOp, error) {
	p, err := jsonpath.Parse(path)
	if err != nil {
		return writeOp{}, &Error{Code: protocol.CodeInvalidPath, Op: "write", Name: name, Reason: err.Error()}
	}
	op := writeOp{kind: kind, path: p}
	if kind == opErase {
		if p.IsRoot() {
			return writeOp{}, &Error{Code: protocol.CodeInvalidPath, Op: "write", Name: name, Reason: "erase needs a path; delete the record to remove it all"}
		}
		return op, nil
	}
	var b []byte
	if raw, ok := value.(json.RawMessage); ok {
		if err := jsonpath.Valid(raw); err != nil {
			return writeOp{}, &Error{Code: protocol.CodeInvalidData, Op: "write", Name: name, Reason: err.Error()}
		}
		b = raw // copied only if kept (see writeOp.owned)
	} else if b, err = json.Marshal(value); err != nil {
		return writeOp{}, &Error{Code: protocol.CodeInvalidData, Op: "write", Name: name, Reason: err.Error()}
	} else {
		op.owned = true
	}
	if p.IsRoot() && !isContainer(b) {
		return writeOp{}, &Error{Code: protocol.CodeInvalidDocument, Op: "write", Name: name, Reason: "a whole record must be a JSON object or array"}
	}
	op.value = b
	return op, nil
}
