package session

import (
	"errors"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/listen"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// eventListen handles Event Listen, Unlisten, ListenAccept and
// ListenReject against the event listen registry.
func (s *Session) eventListen(v *msg.View) {
	r, action, id := s.m.cfg.EventListen, v.Action(), v.Id()
	if r == nil {
		s.fail(fb.TopicEvent, action, id, v.Name(), protocol.CodeUnknownAction, "listening is not served")
		return
	}
	if s.eventListener == nil {
		s.eventListener = listen.NewPeer(s.c)
	}
	p := s.eventListener
	switch action {
	case fb.ActionListen:
		pattern := v.Name()
		if !s.checkName(fb.TopicEvent, action, id, pattern) {
			return
		}
		if !s.allowed(v, fb.TopicEvent, "listen", msg.UnsafeString(pattern), nil, nil, 0) {
			return
		}
		if !p.Listening(string(pattern)) && s.subscriptions >= s.m.opts.MaxSubscriptions {
			s.fail(fb.TopicEvent, action, id, pattern, protocol.CodeTooManySubscriptions, "limit "+itoa(int64(s.m.opts.MaxSubscriptions)))
			return
		}
		err := r.Listen(p, string(pattern), func() {
			s.subscriptions++
			s.ack(fb.TopicEvent, id)
		})
		if err != nil {
			code, detail := listenCode(err), ""
			if code == protocol.CodeInvalidPattern {
				detail = err.Error()
			}
			s.fail(fb.TopicEvent, action, id, pattern, code, detail)
		}
	case fb.ActionUnlisten:
		if err := r.Unlisten(p, string(v.Name())); err != nil {
			s.fail(fb.TopicEvent, action, id, v.Name(), listenCode(err), "")
			return
		}
		s.subscriptions--
		s.ack(fb.TopicEvent, id)
	case fb.ActionListenAccept, fb.ActionListenReject:
		var err error
		if action == fb.ActionListenAccept {
			err = r.Accept(p, string(v.Name()), string(v.Path()))
		} else {
			err = r.Reject(p, string(v.Name()), string(v.Path()))
		}
		if err != nil {
			s.fail(fb.TopicEvent, action, id, v.Path(), listenCode(err), "")
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

// closeListen removes the session's listeners (OnClose).
func (s *Session) closeListen() {
	if s.eventListener != nil {
		s.m.cfg.EventListen.Close(s.eventListener)
		s.eventListener = nil
	}
}
