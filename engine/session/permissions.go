package session

import (
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/valve"
)

// Authorizer decides permissions; valve.Rules implements it.
type Authorizer interface {
	Check(req *valve.Request, rr valve.RecordReader) valve.Decision
	Needs(topic, action, name string) valve.Needs
}

var _ Authorizer = (*valve.Rules)(nil)

// approval is a permission granted off the loop for one replayed message:
// the check read other records, so it ran on another goroutine and the
// message was queued to run again with this approval.
type approval struct {
	topic, action, name string
	version             int64 // record writes: the version the check saw
	set                 bool
}

var topicNames = [...]string{fb.TopicRecord: "record", fb.TopicEvent: "event", fb.TopicRpc: "rpc", fb.TopicPresence: "presence"}

// allowed asks the current rules whether this session may do action to
// name. It returns true to go ahead. On false the request was answered
// already: denied with an Error, or, when the deciding rule reads other
// records (which may block), checked on another goroutine and replayed on
// this loop once allowed. version is the record version data and oldData
// belong to (record writes), or 0.
func (s *Session) allowed(v *msg.View, topic fb.Topic, action, name string, data, oldData []byte, version int64) bool {
	rules := s.m.rules()
	if rules == nil {
		return true
	}
	tname := topicNames[topic]
	if a := s.approved; a.set && a.topic == tname && a.action == action && a.name == name {
		s.approved = approval{}
		if a.version == version {
			return true
		}
	}
	req := &s.vreq
	*req = valve.Request{Topic: tname, Action: action, Name: name, User: &s.vuser, Data: data, OldData: oldData}
	if !rules.Needs(tname, action, name).Records {
		d := rules.Check(req, nil)
		if !d.Allow {
			s.deny(v, d.Reason)
		}
		return d.Allow
	}
	// The rule reads other records: decide off the loop, then run the
	// message again with the approval.
	payload := append([]byte(nil), v.Bytes()...)
	async := valve.Request{Topic: tname, Action: action, Name: name, User: &s.vuser,
		Data: append([]byte(nil), data...), OldData: append([]byte(nil), oldData...)}
	if data == nil {
		async.Data = nil
	}
	if oldData == nil {
		async.OldData = nil
	}
	reader := s.m.cfg.Reader
	ok := s.m.cfg.Go("permission", func() {
		d := rules.Check(&async, reader)
		_ = s.c.Post(func() {
			var rv msg.View
			if err := rv.Reset(payload); err != nil {
				return
			}
			if !d.Allow {
				s.deny(&rv, d.Reason)
				return
			}
			s.approved = approval{topic: tname, action: action, name: async.Name, version: version, set: true}
			s.replay(payload)
		})
	})
	if !ok {
		s.c.CloseWith(protocol.CodeServerShutdown, "the server is shutting down")
	}
	return false
}

func (s *Session) deny(v *msg.View, reason string) {
	s.m.cfg.Metrics.Denied(v.Topic(), v.Action())
	s.send(&msg.Msg{Topic: v.Topic(), Action: fb.ActionError, ID: v.Id(), Name: string(v.Name()),
		Code: uint16(protocol.CodePermissionDenied), Reason: reason})
}

// rules returns the permission rules in force (nil: everything allowed).
func (m *Manager) rules() Authorizer {
	if m.cfg.Permissions == nil {
		return nil
	}
	return m.cfg.Permissions()
}
