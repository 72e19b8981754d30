package session

import (
	"time"
	"unicode/utf8"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// OnMessage implements netloop.Handler: verify, check state and limits,
// dispatch by topic.
func (m *Manager) OnMessage(c *netloop.Conn, payload []byte) {
	s, ok := c.Context().(*Session)
	if !ok {
		return
	}
	v := &s.view
	if err := v.Reset(payload); err != nil {
		c.CloseWith(protocol.CodeProtocolError, err.Error())
		return
	}
	s.active.Store(true)
	topic, action := v.Topic(), v.Action()
	if !s.replaying {
		m.cfg.Metrics.MessageIn(topic, action)
	}

	switch s.state.Load() {
	case stateHandshake:
		s.handshake(v)
		return
	case stateLogin, stateAuthenticating:
		switch {
		case topic == fb.TopicAuth && action == fb.ActionLogin:
			s.login(v)
		case topic == fb.TopicConnection:
			s.connection(v)
		default:
			s.fail(topic, action, v.Id(), v.Name(), protocol.CodeNotAuthenticated, "")
		}
		return
	}
	if !s.allowRate() {
		s.fail(topic, action, v.Id(), v.Name(), protocol.CodeRateLimited, "")
		return
	}
	switch topic {
	case fb.TopicEvent:
		s.event(v)
	case fb.TopicRpc:
		s.rpc(v)
	case fb.TopicPresence:
		s.presence(v)
	case fb.TopicRecord:
		s.record(v)
	case fb.TopicConnection:
		s.connection(v)
	case fb.TopicAuth:
		if action == fb.ActionLogin {
			s.fail(topic, action, v.Id(), nil, protocol.CodeAlreadyAuthenticated, "")
			return
		}
		s.fail(topic, action, v.Id(), nil, protocol.CodeUnknownAction, "")
	default:
		s.fail(topic, action, v.Id(), v.Name(), protocol.CodeUnknownAction, "")
	}
}

func (s *Session) handshake(v *msg.View) {
	if v.Topic() != fb.TopicConnection || v.Action() != fb.ActionHandshake {
		s.c.CloseWith(protocol.CodeHandshakeRequired, "the first message must be Connection/Handshake")
		return
	}
	if string(v.Name()) != protocol.Name || v.Version() != protocol.Version {
		s.c.CloseWith(protocol.CodeUnsupportedVersion,
			"this server speaks "+protocol.Name+" version "+itoa(protocol.Version)+", not "+string(v.Name())+" version "+itoa(v.Version()))
		return
	}
	s.state.Store(stateLogin)
	_ = s.c.Send(s.m.ack)
}

func (s *Session) connection(v *msg.View) {
	switch v.Action() {
	case fb.ActionPing:
		s.send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()})
	case fb.ActionPong:
		// activity is recorded for every message; nothing else to do
	case fb.ActionClose:
		s.c.CloseWith(protocol.CodeNormalClose, "closed by the client")
	case fb.ActionHandshake:
		s.fail(fb.TopicConnection, v.Action(), v.Id(), nil, protocol.CodeUnknownAction, "handshake already done")
	default:
		s.fail(fb.TopicConnection, v.Action(), v.Id(), nil, protocol.CodeUnknownAction, "")
	}
}

// allowRate counts a message against MaxMessageRate; fixed one-second windows.
func (s *Session) allowRate() bool {
	s.rateCount++
	if s.rateCount <= s.m.opts.MaxMessageRate {
		return true
	}
	now := time.Now().Unix()
	if now != s.rateWindow {
		s.rateWindow = now
		s.rateCount = 1
		return true
	}
	return false
}

// nameOK reports whether checkName accepts name.
func (s *Session) nameOK(name []byte) bool {
	return len(name) > 0 && len(name) <= s.m.opts.MaxNameLength && utf8.Valid(name)
}

// checkName validates a name against the limits; it replies with an error
// and returns false when the name is refused.
func (s *Session) checkName(topic fb.Topic, action fb.Action, id uint64, name []byte) bool {
	switch {
	case len(name) == 0 || !utf8.Valid(name):
		s.fail(topic, action, id, name, protocol.CodeInvalidName, "")
	case len(name) > s.m.opts.MaxNameLength:
		s.fail(topic, action, id, namePrefix(name), protocol.CodeNameTooLong, "limit "+itoa(int64(s.m.opts.MaxNameLength))+" bytes")
	default:
		return true
	}
	return false
}

// namePrefix shortens a refused, overlong name for the error reply: at most
// 32 bytes, cut at a character boundary.
func namePrefix(name []byte) []byte {
	if len(name) <= 32 {
		return name
	}
	n := 32
	for n > 0 && !utf8.RuneStart(name[n]) {
		n--
	}
	return name[:n]
}

// send encodes m and queues it on the connection.
func (s *Session) send(m *msg.Msg) {
	s.scratch = msg.Append(s.scratch[:0], m)
	_ = s.c.Send(s.scratch)
}

// ack confirms request id of topic.
func (s *Session) ack(topic fb.Topic, id uint64) {
	if id == 0 {
		return
	}
	s.out = msg.Msg{Topic: topic, Action: fb.ActionAck, ID: id}
	s.send(&s.out)
}

// fail replies with an Error naming topic, action and name. Codes whose
// catalogue entry says close are followed by closing the connection.
func (s *Session) fail(topic fb.Topic, action fb.Action, id uint64, name []byte, code protocol.Code, detail string) {
	reason := topicName(topic) + " " + actionName(action)
	if len(name) > 0 {
		reason += " " + string(name)
	}
	reason += ": " + code.Message()
	if detail != "" {
		reason += " (" + detail + ")"
	}
	if code.Closes() {
		s.c.CloseWith(code, reason)
		return
	}
	s.send(&msg.Msg{Topic: topic, Action: fb.ActionError, ID: id, Name: string(name), Code: uint16(code), Reason: reason})
}

func topicName(t fb.Topic) string {
	if n, ok := fb.EnumNamesTopic[t]; ok {
		return n
	}
	return "Topic(" + itoa(int64(t)) + ")"
}

func actionName(a fb.Action) string {
	if n, ok := fb.EnumNamesAction[a]; ok {
		return n
	}
	return "Action(" + itoa(int64(a)) + ")"
}
