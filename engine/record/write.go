package record

import (
	"errors"
	"fmt"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

var emptyDoc = []byte("{}")

// Kind is the shape of a write.
type Kind uint8

const (
	// Replace sets the whole document.
	Replace Kind = iota
	// SetPath sets one path.
	SetPath
	// ErasePath removes one path.
	ErasePath
)

// Write is one change to a record.
type Write struct {
	Kind Kind
	// Forced skips the version check and the read requirement: the write
	// creates the version after the record's, whatever Version says.
	Forced  bool
	Version int64  // the version the write creates, unless Forced
	Path    string // for SetPath and ErasePath
	Data    []byte // JSON: the document (Replace) or the value (SetPath)
	Writer  Subscriber
	// Check, when set, sees the stored and the resulting document before
	// the write is applied (and whether the record existed); an error
	// refuses the write.
	Check func(oldData, newData []byte, exists bool) error
	// Expect, when not negative, is the version the record must still have
	// (a permission was decided against it); otherwise Apply returns
	// ErrChanged and nothing happens.
	Expect int64
	// Done, when set, runs once the write is durable (or failed to be).
	Done func(version int64, err error)
	// Delivered is set by Apply to the number of subscribers the change
	// was delivered to.
	Delivered int
}

// Error is a refused write: Code says why; for CodeVersionExists Version and
// Data are the record's current state, for the writer to merge with.
type Error struct {
	Code    protocol.Code
	Detail  string
	Version int64
	Data    []byte
	Err     error
}

func (e *Error) Error() string { return "record: " + e.Code.Message() + ": " + e.Detail }
func (e *Error) Unwrap() error { return e.Err }

// ErrChanged is returned when a write's Expect no longer matches.
var ErrChanged = errors.New("record: changed since the write was checked")

// ErrGone is returned when the entry was deleted or evicted between Lookup
// and the call: look the name up again.
var ErrGone = errors.New("record: entry no longer in memory")

// Apply applies w to e, delivers the change to every subscriber except the
// writer, in version order, and queues it for storage. It returns the new
// version. scratch is a reusable encoding buffer; the returned slice should
// be passed again next time.
func (t *Table) Apply(e *Entry, w *Write, scratch []byte) (int64, []byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone {
		return 0, scratch, ErrGone
	}
	cur := e.data
	if cur == nil {
		cur = emptyDoc
	}
	if !w.Forced {
		switch {
		case w.Version <= e.version && e.exists:
			return 0, scratch, &Error{Code: protocol.CodeVersionExists, Detail: fmt.Sprintf("version %d exists; current is %d", w.Version, e.version), Version: e.version, Data: cur}
		case w.Version != e.version+1:
			return 0, scratch, &Error{Code: protocol.CodeInvalidVersion, Detail: fmt.Sprintf("version %d is not the next one (%d)", w.Version, e.version+1), Version: e.version, Data: cur}
		}
	}
	if w.Expect >= 0 && w.Expect != e.version {
		return 0, scratch, ErrChanged
	}
	doc, err := t.Preview(cur, w)
	if err != nil {
		return 0, scratch, err
	}
	if w.Check != nil {
		if err := w.Check(cur, doc, e.exists); err != nil {
			return 0, scratch, err
		}
	}
	version := e.version + 1
	if !e.exists && w.Forced {
		version = max(e.version+1, 1)
	}
	e.version, e.data, e.exists = version, doc, true

	out := msg.Msg{Topic: fb.TopicRecord, Name: e.name, Version: version, HasVersion: true}
	switch {
	case w.Kind == Replace || w.Path == "":
		out.Action, out.Data = fb.ActionUpdate, doc
	case w.Kind == SetPath:
		out.Action, out.Path, out.Data = fb.ActionPatch, w.Path, w.Data
	default:
		out.Action, out.Path = fb.ActionErasePath, w.Path
	}
	scratch = msg.Append(scratch[:0], &out)
	e.eachSub(func(s Subscriber) {
		if s != w.Writer {
			s.Deliver(scratch)
			w.Delivered++
		}
	})
	var done func(error)
	if w.Done != nil {
		cb := w.Done
		done = func(err error) { cb(version, err) }
	}
	t.p.Put(e.name, version, doc, done)
	return version, scratch, nil
}

// Preview returns the document w would produce from cur, without applying
// it. A document past the table's MaxDocument is refused with
// DocumentTooLarge; a patch is refused as soon as building it would pass
// the limit, so a small patch (a far array index) cannot build a large
// document first.
func (t *Table) Preview(cur []byte, w *Write) ([]byte, error) {
	var doc []byte
	var err error
	switch w.Kind {
	case Replace:
		doc, err = checkDocument(w.Data)
	case SetPath:
		if w.Path == "" {
			doc, err = checkDocument(w.Data)
		} else {
			doc, err = jsonpath.SetMax(nil, cur, w.Path, w.Data, t.maxDoc)
		}
	case ErasePath:
		doc, err = jsonpath.Erase(nil, cur, w.Path)
	}
	if err == nil && len(doc) > t.maxDoc {
		err = jsonpath.ErrTooLarge
	}
	if err != nil {
		return nil, t.classify(err)
	}
	return doc, nil
}

// Create makes a missing record exist as {} at version 0 (a read creates
// the record it names).
func (t *Table) Create(e *Entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exists || e.gone {
		return
	}
	e.exists, e.version, e.data = true, 0, emptyDoc
	t.p.Put(e.name, 0, emptyDoc, nil)
}

// Delete removes e from memory and storage and tells every subscriber but
// deleter. done runs once the removal is durable.
func (t *Table) Delete(e *Entry, deleter Subscriber, done func(error)) error {
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		return ErrGone
	}
	e.gone = true
	var subs []Subscriber
	e.eachSub(func(s Subscriber) { subs = append(subs, s) })
	e.subs = nil
	e.mu.Unlock()
	t.remove(e)
	t.p.Delete(e.name, done)
	payload := msg.Append(nil, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionDeleted, Name: e.name})
	for _, s := range subs {
		if s != deleter {
			s.Deliver(payload)
		}
		s.Deleted(e.name)
	}
	return nil
}

// checkDocument validates a whole document: JSON, and an object or array.
func checkDocument(b []byte) ([]byte, error) {
	if err := jsonpath.Valid(b); err != nil {
		return nil, err
	}
	for _, c := range b {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		if c == '{' || c == '[' {
			return append([]byte(nil), b...), nil
		}
		break
	}
	return nil, &Error{Code: protocol.CodeInvalidDocument, Detail: "a whole record must be a JSON object or array"}
}

// classify maps jsonpath errors onto catalogue codes.
func (t *Table) classify(err error) error {
	var re *Error
	if errors.As(err, &re) {
		return err
	}
	if errors.Is(err, jsonpath.ErrTooLarge) {
		return &Error{Code: protocol.CodeDocumentTooLarge, Detail: fmt.Sprintf("the limit is %d bytes", t.maxDoc), Err: err}
	}
	if errors.Is(err, jsonpath.ErrSyntax) || errors.Is(err, jsonpath.ErrRoot) {
		return &Error{Code: protocol.CodeInvalidPath, Detail: err.Error(), Err: err}
	}
	return &Error{Code: protocol.CodeInvalidData, Detail: err.Error(), Err: err}
}
