package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// batch runs the messages of one POST /api, one after the other, over the
// request's virtual connection.
type batch struct {
	a   *API
	v   *vconn
	ctx context.Context
	id  uint64 // last id used; the login took 1
	// dead is the result of every message once the connection is gone or
	// the request has run out of time.
	dead *Result
}

var trueJSON, falseJSON = json.RawMessage("true"), json.RawMessage("false")

// one runs one message and returns its result.
func (b *batch) one(raw json.RawMessage) Result {
	if b.dead != nil {
		return *b.dead
	}
	var m apiMessage
	if len(raw) == 0 || raw[0] != '{' {
		return codeResult(protocol.CodeInvalidData, "a message must be a JSON object")
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return codeResult(protocol.CodeInvalidData, "the message does not have the documented shape: "+err.Error())
	}
	topic, action := strings.ToLower(m.Topic), strings.ToLower(m.Action)
	switch topic {
	case "record":
		return b.record(&m, action)
	case "event":
		return b.event(&m, action)
	case "rpc":
		return b.rpc(&m, action)
	case "presence":
		return b.presence(&m, action)
	}
	return codeResult(protocol.CodeUnknownAction, "unknown topic "+quote(m.Topic)+"; one of record, event, rpc, presence")
}

func quote(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

func unknownAction(topic, action, valid string) Result {
	return codeResult(protocol.CodeUnknownAction, topic+" has no action "+quote(action)+" over HTTP; one of "+valid)
}

func (b *batch) nextID() uint64 { b.id++; return b.id }

func (b *batch) record(m *apiMessage, action string) Result {
	name := m.name()
	switch action {
	case "read", "snapshot":
		id := b.nextID()
		b.v.send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSnapshot, ID: id, Name: name})
		return b.await(id, func(v *msg.View) (Result, bool) {
			if v.Action() != fb.ActionSnapshotResult {
				return Result{}, false
			}
			return Result{Success: true, Data: jsonData(v.DataBytes()), Version: version(v.Version())}, true
		})
	case "head":
		id := b.nextID()
		b.v.send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionHead, ID: id, Name: name})
		return b.await(id, func(v *msg.View) (Result, bool) {
			return Result{Success: true, Version: version(v.Version())}, v.Action() == fb.ActionHeadResult
		})
	case "has":
		id := b.nextID()
		b.v.send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionHas, ID: id, Name: name})
		return b.await(id, func(v *msg.View) (Result, bool) {
			data := falseJSON
			if v.Version() == 1 {
				data = trueJSON
			}
			return Result{Success: true, Data: data}, v.Action() == fb.ActionHasResult
		})
	case "delete":
		id := b.nextID()
		b.v.send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionDelete, ID: id, Name: name})
		return b.await(id, func(v *msg.View) (Result, bool) {
			return Result{Success: true}, v.Action() == fb.ActionAck
		})
	case "write", "erase":
		return b.write(m, action, name)
	}
	return unknownAction("record", m.Action, "read, snapshot, head, has, write, erase, delete")
}

// write sends a durable write: forced unless the message names the version
// it creates, in which case the record is subscribed first (a versioned
// write needs it) and the version is checked as for any client.
func (b *batch) write(m *apiMessage, action, name string) Result {
	out := msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: name, Data: m.Data, Flags: fb.FlagsWantAck}
	if m.Path != nil && *m.Path != "" {
		out.Action, out.Path = fb.ActionPatch, *m.Path
	}
	if action == "erase" {
		if m.Path == nil || *m.Path == "" {
			return codeResult(protocol.CodeInvalidPath, "erase needs a path")
		}
		out.Action, out.Data = fb.ActionErasePath, nil
	} else if len(m.Data) == 0 {
		return codeResult(protocol.CodeInvalidData, "write needs data")
	}
	if m.Version == nil {
		out.Flags |= fb.FlagsForced
	} else {
		id := b.nextID()
		b.v.send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionSubscribe, ID: id, Name: name})
		res := b.await(id, func(v *msg.View) (Result, bool) { return Result{Success: true}, v.Action() == fb.ActionAck })
		if !res.Success {
			return res
		}
		out.Version, out.HasVersion = *m.Version, true
	}
	out.ID = b.nextID()
	b.v.send(&out)
	return b.await(out.ID, func(v *msg.View) (Result, bool) {
		return Result{Success: true, Version: version(v.Version())}, v.Action() == fb.ActionWriteAck
	})
}

func (b *batch) event(m *apiMessage, action string) Result {
	switch action {
	case "emit":
		id := b.nextID()
		b.v.send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, ID: id, Name: m.name(), Data: m.Data})
		return b.await(id, func(v *msg.View) (Result, bool) {
			return Result{Success: true}, v.Action() == fb.ActionAck
		})
	case "subscribe", "unsubscribe":
		return codeResult(protocol.CodeUnknownAction, "event "+action+" has no meaning over a single request; stream events with GET /sse")
	}
	return unknownAction("event", m.Action, "emit")
}

func (b *batch) rpc(m *apiMessage, action string) Result {
	if action != "make" {
		return unknownAction("rpc", m.Action, "make")
	}
	if m.Timeout < 0 || m.Timeout > math.MaxUint32 {
		return codeResult(protocol.CodeInvalidData, "timeout must be between 0 and 4294967295 milliseconds")
	}
	id := b.nextID()
	b.v.send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: id, Name: m.name(), Data: m.Data, TimeoutMs: uint32(m.Timeout)})
	return b.await(id, func(v *msg.View) (Result, bool) {
		// Accept only says a provider took the request; wait for its answer.
		return Result{Success: true, Data: jsonData(v.DataBytes())}, v.Action() == fb.ActionResponse
	})
}

func (b *batch) presence(m *apiMessage, action string) Result {
	if action != "query" {
		return unknownAction("presence", m.Action, "query")
	}
	id := b.nextID()
	names := make([]string, len(m.Names))
	for i, n := range m.Names {
		names[i] = string(n)
	}
	b.v.send(&msg.Msg{Topic: fb.TopicPresence, Action: fb.ActionQuery, ID: id, Names: names})
	return b.await(id, func(v *msg.View) (Result, bool) {
		if v.Action() != fb.ActionQueryResult {
			return Result{}, false
		}
		if len(m.Names) > 0 {
			return Result{Success: true, Data: jsonData(v.DataBytes())}, true
		}
		users := make([]string, v.NamesLength())
		for i := range users {
			users[i] = string(v.NamesAt(i))
		}
		data, _ := json.Marshal(users) // strings always encode
		return Result{Success: true, Data: data}, true
	})
}

// await reads the server's messages until the one answering id: done
// turns a reply into a result (false: not the final reply yet); Error,
// RequestError and VersionExists become failures. A close or the end of
// the request's time fails this message and every later one.
func (b *batch) await(id uint64, done func(v *msg.View) (Result, bool)) Result {
	for {
		v, err := b.v.next(b.ctx)
		if err != nil {
			res := waitFailure(err, b.a.opts.Timeout)
			if errors.Is(err, errTransportClosed) {
				res = codeResult(protocol.CodeInternalError, "the server closed the request's connection")
			}
			b.dead = &res
			return res
		}
		if v.Topic() == fb.TopicConnection && v.Action() == fb.ActionClose {
			res := codeResult(protocol.Code(v.Code()), string(v.Reason()))
			b.dead = &res
			return res
		}
		if v.Id() != id {
			continue // a delivery, or a late reply to an earlier message
		}
		switch v.Action() {
		case fb.ActionError, fb.ActionRequestError:
			return codeResult(protocol.Code(v.Code()), string(v.Reason()))
		case fb.ActionVersionExists:
			res := codeResult(protocol.CodeVersionExists, string(v.Reason()))
			res.Version, res.Data = version(v.Version()), jsonData(v.DataBytes())
			return res
		}
		if res, ok := done(v); ok {
			return res
		}
	}
}

func version(v int64) *int64 { return &v }

// jsonData copies data for a result: JSON as it is, anything else (a
// provider may answer an RPC with bytes that are not JSON) as a string.
func jsonData(data []byte) json.RawMessage {
	if len(data) == 0 {
		return nil
	}
	if json.Valid(data) {
		return append(json.RawMessage(nil), data...)
	}
	return json.RawMessage(quote(string(data)))
}
