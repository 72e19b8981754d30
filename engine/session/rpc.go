package session

import (
	"errors"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/rpc"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// rpc handles the Rpc topic: providing, requesting, and a provider's
// answers to the requests the table sent it.
func (s *Session) rpc(v *msg.View) {
	t, action, id := s.m.cfg.RPC, v.Action(), v.Id()
	if t == nil {
		s.fail(fb.TopicRpc, action, id, v.Name(), protocol.CodeUnknownAction, "rpc is not served")
		return
	}
	if s.rpcPeer == nil {
		s.rpcPeer = rpc.NewPeer(s.c, s.id.User)
	}
	p := s.rpcPeer
	var err error
	switch action {
	case fb.ActionProvide:
		name := v.Name()
		if !s.checkName(fb.TopicRpc, action, id, name) {
			return
		}
		if !s.allowed(v, fb.TopicRpc, "provide", msg.UnsafeString(name), nil, nil, 0) {
			return
		}
		if !p.Provides(string(name)) && s.subscriptions >= s.m.opts.MaxSubscriptions {
			s.fail(fb.TopicRpc, action, id, name, protocol.CodeTooManySubscriptions, "limit "+itoa(int64(s.m.opts.MaxSubscriptions)))
			return
		}
		if err := t.Provide(p, string(name)); err != nil {
			s.fail(fb.TopicRpc, action, id, name, rpcCode(err), "")
			return
		}
		s.subscriptions++
		s.ack(fb.TopicRpc, id)
		return
	case fb.ActionUnprovide:
		if err := t.Unprovide(p, string(v.Name())); err != nil {
			s.fail(fb.TopicRpc, action, id, v.Name(), rpcCode(err), "")
			return
		}
		s.subscriptions--
		s.ack(fb.TopicRpc, id)
		return
	case fb.ActionRequest:
		name := v.Name()
		if !s.checkName(fb.TopicRpc, action, id, name) {
			return
		}
		if id == 0 {
			s.fail(fb.TopicRpc, action, id, name, protocol.CodeInvalidData, "a request needs a non-zero id")
			return
		}
		if !s.allowed(v, fb.TopicRpc, "request", msg.UnsafeString(name), v.DataBytes(), nil, 0) {
			return
		}
		t.Request(p, &rpc.Call{ID: id, Name: name, Data: v.DataBytes(),
			Timeout:       time.Duration(v.TimeoutMs()) * time.Millisecond,
			AcceptTimeout: time.Duration(v.AcceptTimeoutMs()) * time.Millisecond})
		return
	case fb.ActionAccept:
		err = t.Accept(p, id)
	case fb.ActionReject:
		err = t.Reject(p, id)
	case fb.ActionResponse:
		err = t.Respond(p, id, v.DataBytes())
	case fb.ActionRequestError:
		err = t.Fail(p, id, v.Reason())
	default:
		s.fail(fb.TopicRpc, action, id, v.Name(), protocol.CodeUnknownAction, "")
		return
	}
	if err != nil {
		s.fail(fb.TopicRpc, action, id, nil, rpcCode(err), "request "+itoa(int64(id)))
	}
}

func rpcCode(err error) protocol.Code {
	switch {
	case errors.Is(err, rpc.ErrAlreadyProvided):
		return protocol.CodeRpcAlreadyProvided
	case errors.Is(err, rpc.ErrNotProvided):
		return protocol.CodeRpcNotProvided
	case errors.Is(err, rpc.ErrUnknownRequest):
		return protocol.CodeRpcUnknownRequest
	}
	return protocol.CodeInternalError
}

// closeRPC removes the session from the rpc table (OnClose).
func (s *Session) closeRPC() {
	if s.rpcPeer != nil {
		s.m.cfg.RPC.Close(s.rpcPeer)
		s.rpcPeer = nil
	}
}
