package session

import (
	"encoding/json"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/presence"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// presence handles the Presence topic: subscribe to everyone or to named
// users, unsubscribe, and query who is online.
func (s *Session) presence(v *msg.View) {
	t, action, id := s.m.cfg.Presence, v.Action(), v.Id()
	if t == nil {
		s.fail(fb.TopicPresence, action, id, v.Name(), protocol.CodeUnknownAction, "presence is not served")
		return
	}
	p := s.presenceHandle()
	everyone := v.NamesLength() == 0 && len(v.Name()) == 0
	switch action {
	case fb.ActionSubscribe:
		if everyone {
			if !s.allowed(v, fb.TopicPresence, "allow", "", nil, nil, 0) || (!p.Watching("") && !s.presenceRoom(action, id, nil)) {
				return
			}
			if t.SubscribeAll(p) {
				s.subscriptions++
			}
			s.ack(fb.TopicPresence, id)
			return
		}
		ok := true
		eachName(v, func(name []byte) bool {
			ok = s.checkName(fb.TopicPresence, action, id, name) &&
				s.allowed(v, fb.TopicPresence, "allow", msg.UnsafeString(name), nil, nil, 0) &&
				(p.Watching(string(name)) || s.presenceRoom(action, id, name))
			if ok && t.Subscribe(p, string(name)) {
				s.subscriptions++
			}
			return ok
		})
		if ok {
			s.ack(fb.TopicPresence, id)
		}
	case fb.ActionUnsubscribe:
		if everyone {
			if t.UnsubscribeAll(p) {
				s.subscriptions--
			}
		} else {
			eachName(v, func(name []byte) bool {
				if t.Unsubscribe(p, string(name)) {
					s.subscriptions--
				}
				return true
			})
		}
		s.ack(fb.TopicPresence, id)
	case fb.ActionQuery:
		out := msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQueryResult, ID: id}
		if everyone {
			if !s.allowed(v, fb.TopicPresence, "allow", "", nil, nil, 0) {
				return
			}
			out.Names = t.AppendOnline(nil, s.id.User)
		} else {
			online := make(map[string]bool)
			ok := true
			eachName(v, func(name []byte) bool {
				ok = s.checkName(fb.TopicPresence, action, id, name) &&
					s.allowed(v, fb.TopicPresence, "allow", msg.UnsafeString(name), nil, nil, 0)
				if ok {
					online[string(name)] = t.Online(string(name))
				}
				return ok
			})
			if !ok {
				return
			}
			out.Data, _ = json.Marshal(online) // a map of strings to bools always encodes
		}
		s.send(&out)
	default:
		s.fail(fb.TopicPresence, action, id, v.Name(), protocol.CodeUnknownAction, "")
	}
}

// presenceRoom checks MaxSubscriptions before a presence subscription.
func (s *Session) presenceRoom(action fb.Action, id uint64, name []byte) bool {
	if s.subscriptions < s.m.opts.MaxSubscriptions {
		return true
	}
	s.fail(fb.TopicPresence, action, id, name, protocol.CodeTooManySubscriptions, "limit "+itoa(int64(s.m.opts.MaxSubscriptions)))
	return false
}

func (s *Session) presenceHandle() *presence.Peer {
	if s.presencePeer == nil {
		s.presencePeer = presence.NewPeer(s.c, s.id.User)
	}
	return s.presencePeer
}

// joinPresence counts the session's user as online (after a login). An
// HTTP API request is not a presence: its user is not counted.
func (s *Session) joinPresence() {
	if t := s.m.cfg.Presence; t != nil && s.id.User != "" && s.c.Kind() != netloop.HTTP {
		t.Join(s.presenceHandle())
	}
}

// closePresence removes the session's subscriptions and its user's
// connection from the presence table (OnClose).
func (s *Session) closePresence() {
	if s.presencePeer != nil {
		s.m.cfg.Presence.Close(s.presencePeer)
		s.presencePeer = nil
	}
}
