package session

import (
	"errors"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/record"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// record handles the Record topic. A message naming a record that is not in
// memory is copied, the record is loaded off the loop, and the message runs
// again on this loop once it is there; nothing blocks the loop. Record
// messages that arrive meanwhile wait behind it, so a connection's record
// messages always take effect in the order it sent them.
func (s *Session) record(v *msg.View) {
	if len(s.recq) > 0 && !s.draining {
		s.recq = append(s.recq, append([]byte(nil), v.Bytes()...))
		return
	}
	switch v.Action() {
	case fb.ActionRead, fb.ActionUpdate, fb.ActionPatch, fb.ActionErasePath, fb.ActionDelete,
		fb.ActionHas, fb.ActionHead, fb.ActionSnapshot:
		name := v.Name()
		if !s.checkName(fb.TopicRecord, v.Action(), v.Id(), name) {
			return
		}
		e := s.m.cfg.Records.Lookup(msg.UnsafeString(name))
		if e == nil {
			s.loadThenReplay(v, []string{string(name)})
			return
		}
		s.recordOp(v, e)
	case fb.ActionSubscribe:
		s.recordSubscribe(v)
	case fb.ActionListen, fb.ActionUnlisten, fb.ActionListenAccept, fb.ActionListenReject:
		s.recordListen(v)
	case fb.ActionUnsubscribe:
		id := v.Id()
		eachName(v, func(name []byte) bool {
			if _, ok := s.records[string(name)]; ok {
				key := string(name)
				delete(s.records, key)
				s.subscriptions--
				if s.m.cfg.Records.Unsubscribe(key, s) {
					s.m.recordUnsubscribed(key)
				}
			}
			return true
		})
		s.ack(fb.TopicRecord, id)
	default:
		s.fail(fb.TopicRecord, v.Action(), v.Id(), v.Name(), protocol.CodeUnknownAction, "")
	}
}

// loadThenReplay queues the message (it is the first waiting one, or the
// front one missing again while the queue drains) and loads every named
// record; then the queue drains.
func (s *Session) loadThenReplay(v *msg.View, names []string) {
	if s.draining {
		s.recqMissed = names // the front message stays at the front
		return
	}
	s.recq = append(s.recq, append([]byte(nil), v.Bytes()...))
	s.loadRecords(names)
}

// loadRecords loads names off the loop and then drains the queue on it.
func (s *Session) loadRecords(names []string) {
	pending := len(names)
	var firstErr error
	for _, name := range names {
		s.m.cfg.Records.Load(name, func(err error) {
			_ = s.c.Post(func() {
				if err != nil && firstErr == nil {
					firstErr = err
				}
				pending--
				if pending == 0 {
					s.drainRecords(firstErr)
				}
			})
		})
	}
}

// drainRecords runs the waiting record messages in order until one names a
// record that is not in memory; that one waits for its load.
func (s *Session) drainRecords(err error) {
	if err != nil && len(s.recq) > 0 {
		var rv msg.View
		if rv.Reset(s.recq[0]) == nil {
			s.fail(fb.TopicRecord, rv.Action(), rv.Id(), rv.Name(), protocol.CodeStorageError, err.Error())
		}
		s.recq = s.recq[1:]
	}
	s.draining = true
	for len(s.recq) > 0 {
		s.recqMissed = nil
		s.replay(s.recq[0])
		if names := s.recqMissed; names != nil {
			s.recqMissed = nil
			s.draining = false
			s.loadRecords(names)
			return
		}
		s.recq[0] = nil
		s.recq = s.recq[1:]
	}
	s.recq = nil
	s.draining = false
}

// replay runs a copied message through dispatch again, on the loop.
// The message was counted when it first arrived.
func (s *Session) replay(payload []byte) {
	s.replaying = true
	s.m.OnMessage(s.c, payload)
	s.replaying = false
}

func (s *Session) trackRecord(name string) bool {
	if _, ok := s.records[name]; ok {
		return true
	}
	if s.subscriptions >= s.m.opts.MaxSubscriptions {
		return false
	}
	if s.records == nil {
		s.records = make(map[string]bool)
	}
	s.records[name] = false
	s.subscriptions++
	return true
}

func (s *Session) recordOp(v *msg.View, e *record.Entry) {
	id, action := v.Id(), v.Action()
	name := e.Name()
	switch action {
	case fb.ActionRead, fb.ActionHas, fb.ActionHead, fb.ActionSnapshot:
		if !s.allowed(v, fb.TopicRecord, "read", name, nil, nil, 0) {
			return
		}
	}
	switch action {
	case fb.ActionRead:
		_, subscribed := s.records[name]
		if !subscribed && s.subscriptions >= s.m.opts.MaxSubscriptions {
			s.fail(fb.TopicRecord, action, id, v.Name(), protocol.CodeTooManySubscriptions, "")
			return
		}
		if _, _, exists := e.Snapshot(); !exists {
			if !s.allowed(v, fb.TopicRecord, "create", name, emptyDoc, nil, 0) {
				return
			}
			s.m.cfg.Records.Create(e)
		}
		known := v.Version()
		first, ok := e.Read(s, true, func(version int64, data []byte, _ bool) {
			out := msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionReadResult, ID: id, Name: name, Version: version, HasVersion: true}
			if known <= 0 || known < version {
				out.Data = data
			}
			s.send(&out)
		})
		if !ok {
			s.replay(append([]byte(nil), v.Bytes()...))
			return
		}
		if s.trackRecord(name) {
			s.records[name] = false // the client has the current document again
		}
		if first {
			s.m.recordSubscribed(name)
		}
		s.tellProvider(name)
	case fb.ActionHas, fb.ActionHead, fb.ActionSnapshot:
		version, data, exists := e.Snapshot()
		out := msg.Msg{Topic: fb.TopicRecord, ID: id, Name: name, HasVersion: true}
		switch action {
		case fb.ActionHas:
			out.Action = fb.ActionHasResult
			if exists {
				out.Version = 1
			}
		case fb.ActionHead:
			out.Action, out.Version = fb.ActionHeadResult, version
			if !exists {
				out.Version = -1
			}
		default:
			if !exists {
				s.fail(fb.TopicRecord, action, id, v.Name(), protocol.CodeRecordNotFound, "")
				return
			}
			out.Action, out.Version, out.Data = fb.ActionSnapshotResult, version, data
		}
		s.send(&out)
	case fb.ActionDelete:
		version, old, exists := e.Snapshot()
		if !exists {
			old = nil
		}
		if !s.allowed(v, fb.TopicRecord, "delete", name, nil, old, version) {
			return
		}
		c := s.c
		err := s.m.cfg.Records.Delete(e, s, func(err error) {
			reply := msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionAck, ID: id, Name: name}
			if err != nil {
				reply = msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionError, ID: id, Name: name, Code: uint16(protocol.CodeStorageError), Reason: "Record Delete " + name + ": " + err.Error()}
			}
			_ = c.Send(msg.Append(nil, &reply))
		})
		if errors.Is(err, record.ErrGone) {
			s.replay(append([]byte(nil), v.Bytes()...))
			return
		}
		if _, ok := s.records[name]; ok {
			delete(s.records, name)
			s.subscriptions--
		}
		s.m.recordUnsubscribed(name) // every subscription went with the record
	default:
		s.recordWrite(v, e)
	}
}

func (s *Session) recordWrite(v *msg.View, e *record.Entry) {
	id, action, name := v.Id(), v.Action(), e.Name()
	// Only the flag forces a write: a version, whatever its value, is
	// checked against the record's.
	w := record.Write{Version: v.Version(), Forced: v.Has(fb.FlagsForced), Path: msg.UnsafeString(v.Path()), Data: v.DataBytes(), Writer: s}
	if !w.Forced {
		refused, ok := s.records[name]
		if !ok {
			s.fail(fb.TopicRecord, action, id, v.Name(), protocol.CodeNotSubscribed, "read the record before a versioned write, or force the write")
			return
		}
		if refused {
			if !v.Has(fb.FlagsRebased) {
				version, data, exists := e.Snapshot()
				if !exists {
					data = emptyDoc
				}
				s.versionExists(id, name, w.Path, version, data,
					"an earlier write of this connection to "+name+" was refused; read the record again or flag the write Rebased")
				return
			}
			s.records[name] = false
		}
	}
	switch action {
	case fb.ActionUpdate:
		w.Kind = record.Replace
	case fb.ActionPatch:
		w.Kind = record.SetPath
	default:
		w.Kind = record.ErasePath
		if w.Path == "" {
			s.fail(fb.TopicRecord, action, id, v.Name(), protocol.CodeInvalidPath, "erase needs a path")
			return
		}
	}
	if (w.Kind == record.Replace || w.Kind == record.SetPath) && len(w.Data) == 0 {
		s.fail(fb.TopicRecord, action, id, v.Name(), protocol.CodeInvalidData, "no data")
		return
	}
	if v.Has(fb.FlagsWantAck) {
		c := s.c
		w.Done = func(version int64, err error) {
			reply := msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionWriteAck, ID: id, Name: name, Version: version, HasVersion: true}
			if err != nil {
				reply = msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionError, ID: id, Name: name, Code: uint16(protocol.CodeStorageError), Reason: "Record write " + name + ": " + err.Error()}
			}
			_ = c.Send(msg.Append(nil, &reply))
		}
	}
	w.Expect = -1
	if rules := s.m.rules(); rules != nil {
		if !s.checkWrite(v, e, &w, rules) {
			return
		}
	}
	var err error
	_, s.scratch, err = s.m.cfg.Records.Apply(e, &w, s.scratch)
	if err == nil {
		s.m.cfg.Metrics.Deliveries(fb.TopicRecord, w.Delivered)
		return
	}
	if errors.Is(err, errDenied) {
		return // checkWrite's callback has answered
	}
	if errors.Is(err, record.ErrGone) || errors.Is(err, record.ErrChanged) {
		s.replay(append([]byte(nil), v.Bytes()...))
		return
	}
	var re *record.Error
	if errors.As(err, &re) && (re.Code == protocol.CodeVersionExists || re.Code == protocol.CodeInvalidVersion) {
		if _, ok := s.records[name]; ok { // a forced write's record may not be read
			s.records[name] = true
		}
	}
	if re != nil && re.Code == protocol.CodeVersionExists {
		s.versionExists(id, name, w.Path, re.Version, re.Data, re.Error())
		return
	}
	if re != nil {
		s.fail(fb.TopicRecord, action, id, v.Name(), re.Code, re.Detail)
		return
	}
	s.fail(fb.TopicRecord, action, id, v.Name(), protocol.CodePermissionDenied, err.Error())
}

var emptyDoc = []byte("{}")

// versionExists refuses a versioned write with the record's current
// version and document, for the client to merge and write again.
func (s *Session) versionExists(id uint64, name, path string, version int64, data []byte, reason string) {
	s.send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionVersionExists, ID: id, Name: name, Path: path,
		Version: version, HasVersion: true, Data: data, Code: uint16(protocol.CodeVersionExists), Reason: reason})
}

// errDenied tells Apply that the write's permission check refused it.
var errDenied = errors.New("session: permission denied")

// checkWrite arranges the permission check of a record write: rules that
// only look at the user, data and oldData run inside Apply, against the
// exact documents; rules that read other records run off the loop against
// the current version, and the write is replayed (and applied only if the
// record has not moved on meanwhile).
func (s *Session) checkWrite(v *msg.View, e *record.Entry, w *record.Write, rules Authorizer) bool {
	name := e.Name()
	version, cur, exists := e.Snapshot()
	action := "write"
	if !exists {
		action = "create"
	}
	if !rules.Needs("record", action, name).Records {
		w.Check = func(oldData, newData []byte, exists bool) error {
			action := "write"
			if !exists {
				action, oldData = "create", nil
			}
			if !s.allowed(v, fb.TopicRecord, action, name, newData, oldData, 0) {
				return errDenied
			}
			return nil
		}
		return true
	}
	doc, err := s.m.cfg.Records.Preview(cur, w)
	if err != nil {
		return true // Apply reports the error
	}
	if !exists {
		cur = nil
	}
	if !s.allowed(v, fb.TopicRecord, action, name, doc, cur, version) {
		return false
	}
	w.Expect = version
	return true
}

// recordSubscribe subscribes to one or many records without reading them.
func (s *Session) recordSubscribe(v *msg.View) {
	id := v.Id()
	// Names and the subscription limit are checked before any record is
	// loaded: only the names that may be subscribed are.
	upto, refuse := s.subscribable(v)
	var missing []string
	eachNameUpTo(v, upto, func(name []byte) bool {
		if s.m.cfg.Records.Lookup(msg.UnsafeString(name)) == nil {
			missing = append(missing, string(name))
		}
		return true
	})
	if len(missing) > 0 {
		s.loadThenReplay(v, missing)
		return
	}
	ok := true
	eachNameUpTo(v, upto, func(name []byte) bool {
		e := s.m.cfg.Records.Lookup(msg.UnsafeString(name))
		if e == nil {
			s.replay(append([]byte(nil), v.Bytes()...))
			ok = false
			return false
		}
		if _, dup := s.records[e.Name()]; !dup && !s.allowed(v, fb.TopicRecord, "read", e.Name(), nil, nil, 0) {
			ok = false
			return false
		}
		if !s.trackRecord(e.Name()) {
			s.fail(fb.TopicRecord, fb.ActionSubscribe, id, name, protocol.CodeTooManySubscriptions, "")
			ok = false
			return false
		}
		first, alive := e.Subscribe(s)
		if !alive {
			delete(s.records, e.Name())
			s.subscriptions--
			s.replay(append([]byte(nil), v.Bytes()...))
			ok = false
			return false
		}
		if first {
			s.m.recordSubscribed(e.Name())
		}
		s.tellProvider(e.Name())
		return true
	})
	switch {
	case !ok:
	case refuse != nil:
		refuse()
	default:
		s.ack(fb.TopicRecord, id)
	}
}

// subscribable checks the names of a record Subscribe, in order, against
// the name rules and the subscription limit, without loading anything. It
// returns how many names may be subscribed and, when a name stops the
// message, the reply refusing that one (InvalidName, NameTooLong or
// TooManySubscriptions), to send once the names before it are subscribed.
func (s *Session) subscribable(v *msg.View) (int, func()) {
	id := v.Id()
	room := s.m.opts.MaxSubscriptions - s.subscriptions
	var fresh map[string]struct{} // names this message adds
	n := 0
	var refuse func()
	eachName(v, func(name []byte) bool {
		if !s.nameOK(name) {
			refuse = func() { s.checkName(fb.TopicRecord, fb.ActionSubscribe, id, name) }
			return false
		}
		if _, dup := s.records[msg.UnsafeString(name)]; !dup {
			if _, again := fresh[msg.UnsafeString(name)]; !again {
				if len(fresh) >= room {
					refuse = func() { s.fail(fb.TopicRecord, fb.ActionSubscribe, id, name, protocol.CodeTooManySubscriptions, "") }
					return false
				}
				if fresh == nil {
					fresh = make(map[string]struct{})
				}
				fresh[string(name)] = struct{}{}
			}
		}
		n++
		return true
	})
	return n, refuse
}

// eachNameUpTo is eachName for the first upto names.
func eachNameUpTo(v *msg.View, upto int, fn func(name []byte) bool) {
	i := 0
	eachName(v, func(name []byte) bool {
		if i >= upto {
			return false
		}
		i++
		return fn(name)
	})
}

// Deleted implements record.Subscriber: the record was deleted by someone
// else, so the subscription is gone. Safe from any goroutine.
func (s *Session) Deleted(name string) {
	_ = s.c.Post(func() {
		if _, ok := s.records[name]; ok {
			delete(s.records, name)
			s.subscriptions--
		}
	})
}
