package session

import (
	"errors"
	"strings"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/listen"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// eventListen handles Event Listen, Unlisten, ListenAccept and
// ListenReject against the event listen registry.
func (s *Session) eventListen(v *msg.View) {
	s.listenOn(v, fb.TopicEvent, s.m.cfg.EventListen, &s.eventListener)
}

// recordListen does the same for records.
func (s *Session) recordListen(v *msg.View) {
	s.listenOn(v, fb.TopicRecord, s.m.cfg.RecordListen, &s.recordListener)
}

// listenOn serves the listening actions of one topic.
func (s *Session) listenOn(v *msg.View, topic fb.Topic, r *listen.Registry, peer **listen.Peer) {
	action, id := v.Action(), v.Id()
	if r == nil {
		s.fail(topic, action, id, v.Name(), protocol.CodeUnknownAction, "listening is not served")
		return
	}
	if *peer == nil {
		*peer = listen.NewPeer(s.c)
	}
	p := *peer
	switch action {
	case fb.ActionListen:
		pattern := v.Name()
		if !s.checkName(topic, action, id, pattern) {
			return
		}
		if !s.allowed(v, topic, "listen", msg.UnsafeString(pattern), nil, nil, 0) {
			return
		}
		if !p.Listening(string(pattern)) && s.subscriptions >= s.m.opts.MaxSubscriptions {
			s.fail(topic, action, id, pattern, protocol.CodeTooManySubscriptions, "limit "+itoa(int64(s.m.opts.MaxSubscriptions)))
			return
		}
		err := r.Listen(p, string(pattern), func() {
			s.subscriptions++
			s.ack(topic, id)
		})
		if err != nil {
			code, detail := listenCode(err), ""
			if code == protocol.CodeInvalidPattern { // the parse error alone: the code says the rest
				detail = strings.TrimPrefix(err.Error(), listen.ErrInvalidPattern.Error()+": ")
			}
			s.fail(topic, action, id, pattern, code, detail)
		}
	case fb.ActionUnlisten:
		if err := r.Unlisten(p, string(v.Name())); err != nil {
			s.fail(topic, action, id, v.Name(), listenCode(err), "")
			return
		}
		s.subscriptions--
		s.ack(topic, id)
	case fb.ActionListenAccept, fb.ActionListenReject:
		var err error
		if action == fb.ActionListenAccept {
			err = r.Accept(p, string(v.Name()), string(v.Path()))
		} else {
			err = r.Reject(p, string(v.Name()), string(v.Path()))
		}
		if err != nil {
			s.fail(topic, action, id, v.Path(), listenCode(err), "")
		}
	}
}

func listenCode(err error) protocol.Code {
	switch {
	case errors.Is(err, listen.ErrInvalidPattern):
		return protocol.CodeInvalidPattern
	case errors.Is(err, listen.ErrAlreadyListening):
		return protocol.CodeAlreadyListening
	case errors.Is(err, listen.ErrNotListening):
		return protocol.CodeNotListening
	}
	return protocol.CodeInternalError
}

// eventSubscribed tells the listen registry that name gained its first
// subscriber.
func (m *Manager) eventSubscribed(name string) {
	if r := m.cfg.EventListen; r != nil {
		r.Subscribed(name)
	}
}

// eventUnsubscribed tells the listen registry that name lost its last
// subscriber.
func (m *Manager) eventUnsubscribed(name string) {
	if r := m.cfg.EventListen; r != nil {
		r.Unsubscribed(name)
	}
}

// recordSubscribed and recordUnsubscribed tell the record listen registry
// about a record's first and last subscriber.
func (m *Manager) recordSubscribed(name string) {
	if r := m.cfg.RecordListen; r != nil {
		r.Subscribed(name)
	}
}

func (m *Manager) recordUnsubscribed(name string) {
	if r := m.cfg.RecordListen; r != nil {
		r.Unsubscribed(name)
	}
}

// tellProvider tells a new subscriber of a record that it has an active
// provider (later changes reach every subscriber through the registry's
// provider hook).
func (s *Session) tellProvider(name string) {
	if r := s.m.cfg.RecordListen; r != nil && r.HasProvider(name) {
		s.send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSubscriptionHasProvider, Name: name, Version: 1, HasVersion: true})
	}
}

// closeListen removes the session's listeners (OnClose).
func (s *Session) closeListen() {
	if s.eventListener != nil {
		s.m.cfg.EventListen.Close(s.eventListener)
		s.eventListener = nil
	}
	if s.recordListener != nil {
		s.m.cfg.RecordListen.Close(s.recordListener)
		s.recordListener = nil
	}
}
