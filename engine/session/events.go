package session

import (
	"github.com/eddy-realtime/eddy/codec/jsonpath"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// event handles the Event topic.
func (s *Session) event(v *msg.View) {
	switch v.Action() {
	case fb.ActionEmit:
		s.emit(v)
	case fb.ActionSubscribe:
		s.eventSubscribe(v)
	case fb.ActionUnsubscribe:
		s.eventUnsubscribe(v)
	case fb.ActionListen, fb.ActionUnlisten, fb.ActionListenAccept, fb.ActionListenReject:
		s.eventListen(v)
	default:
		s.fail(fb.TopicEvent, v.Action(), v.Id(), v.Name(), protocol.CodeUnknownAction, "")
	}
}

// emit encodes the delivery once and hands the same bytes to every other
// subscriber of the name. Data, when present, must be JSON, as a record's
// is: otherwise the emitter gets InvalidData and nothing is delivered.
func (s *Session) emit(v *msg.View) {
	name := v.Name()
	if !s.checkName(fb.TopicEvent, fb.ActionEmit, v.Id(), name) {
		return
	}
	if d := v.DataBytes(); len(d) > 0 {
		if err := jsonpath.Valid(d); err != nil {
			s.fail(fb.TopicEvent, fb.ActionEmit, v.Id(), name, protocol.CodeInvalidData, err.Error())
			return
		}
	}
	if !s.allowed(v, fb.TopicEvent, "publish", msg.UnsafeString(name), v.DataBytes(), nil, 0) {
		return
	}
	s.out = msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: msg.UnsafeString(name), Data: v.DataBytes()}
	s.scratch = msg.Append(s.scratch[:0], &s.out)
	n := s.m.cfg.Events.Emit(name, s.scratch, s)
	s.m.cfg.Metrics.Deliveries(fb.TopicEvent, n)
	s.ack(fb.TopicEvent, v.Id())
}

// names calls fn for the message's name, or for each of its names.
func eachName(v *msg.View, fn func(name []byte) bool) {
	if n := v.NamesLength(); n > 0 {
		for i := 0; i < n; i++ {
			if !fn(v.NamesAt(i)) {
				return
			}
		}
		return
	}
	fn(v.Name())
}

func (s *Session) eventSubscribe(v *msg.View) {
	id, ok := v.Id(), true
	eachName(v, func(name []byte) bool {
		if !s.checkName(fb.TopicEvent, fb.ActionSubscribe, id, name) {
			ok = false
			return false
		}
		if _, dup := s.events[string(name)]; dup {
			return true
		}
		if !s.allowed(v, fb.TopicEvent, "subscribe", msg.UnsafeString(name), nil, nil, 0) {
			ok = false
			return false
		}
		if s.subscriptions >= s.m.opts.MaxSubscriptions {
			s.fail(fb.TopicEvent, fb.ActionSubscribe, id, name, protocol.CodeTooManySubscriptions, "limit "+itoa(int64(s.m.opts.MaxSubscriptions)))
			ok = false
			return false
		}
		key := string(name)
		if s.events == nil {
			s.events = make(map[string]struct{})
		}
		s.events[key] = struct{}{}
		s.subscriptions++
		if _, first := s.m.cfg.Events.Subscribe(key, s); first {
			s.m.eventSubscribed(key)
		}
		return true
	})
	if ok {
		s.ack(fb.TopicEvent, id)
	}
}

func (s *Session) eventUnsubscribe(v *msg.View) {
	id := v.Id()
	eachName(v, func(name []byte) bool {
		if _, ok := s.events[string(name)]; !ok {
			return true // unsubscribing from something not subscribed is harmless
		}
		key := string(name)
		delete(s.events, key)
		s.subscriptions--
		if _, last := s.m.cfg.Events.Unsubscribe(key, s); last {
			s.m.eventUnsubscribed(key)
		}
		return true
	})
	s.ack(fb.TopicEvent, id)
}
