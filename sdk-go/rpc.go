package eddy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/sdk-go/internal/conn"
	"github.com/eddy-realtime/eddy/sdk-go/internal/track"
)

// Sentinels for RPC. Those with a catalogue code match an *Error with that
// code (errors.Is).
var (
	// ErrNoProvider matches NoRpcProvider: nobody provides the name, every
	// provider rejected the request, or the provider that accepted it
	// disconnected before answering.
	ErrNoProvider = errors.New("eddy: no rpc provider")
	// ErrTimeout matches RpcAcceptTimeout and RpcResponseTimeout (the
	// server's deadlines), and is wrapped by Make when its context's
	// deadline passes first.
	ErrTimeout = errors.New("eddy: rpc timed out")
	// ErrAlreadyAnswered is returned by an RPCRequest's or ListenResponse's
	// answer methods after the first answer.
	ErrAlreadyAnswered = errors.New("eddy: already answered")
)

func init() {
	for code, err := range map[protocol.Code]error{
		protocol.CodeNoRpcProvider:      ErrNoProvider,
		protocol.CodeRpcAcceptTimeout:   ErrTimeout,
		protocol.CodeRpcResponseTimeout: ErrTimeout,
	} {
		if _, taken := sentinels[code]; !taken {
			sentinels[code] = err
		}
	}
}

// validName refuses names the server would refuse with InvalidName.
func validName(op, name string) error {
	if name == "" || !utf8.ValidString(name) {
		return &Error{Code: protocol.CodeInvalidName, Op: op, Name: name, Reason: "name is empty or not valid UTF-8"}
	}
	return nil
}

// RPC is the client's remote procedure call API (Client.RPC).
//
// A provider registers a name with Provide; its handler gets every request
// the server routes to this client. A requester calls Make; the server
// picks one provider (never the requester itself unless it is the only
// one) and relays the answer. Provided names are renewed after a reconnect.
type RPC struct {
	c *Client

	mu        sync.Mutex
	providers map[string]func(*RPCRequest)
}

func newRPC(c *Client) *RPC {
	return &RPC{c: c, providers: make(map[string]func(*RPCRequest))}
}

// Provide makes this client a provider of name: fn runs, on the client's
// callback goroutine, for every request the server sends it. It returns
// once the server acknowledged, waiting at most the request timeout.
//
// While the client is reconnecting the name is recorded and provided once
// connected; Provide returns nil at once. Providing a name twice is an
// *Error with code RpcAlreadyProvided; a refusal by the server (for example
// ErrPermissionDenied) leaves nothing provided.
func (r *RPC) Provide(name string, fn func(*RPCRequest)) error {
	if err := validName("provide", name); err != nil {
		return err
	}
	if fn == nil {
		return errors.New("eddy: provide: nil handler")
	}
	r.mu.Lock()
	if _, dup := r.providers[name]; dup {
		r.mu.Unlock()
		return &Error{Code: protocol.CodeRpcAlreadyProvided, Op: "provide", Name: name}
	}
	cn, err := r.c.live()
	if errors.Is(err, ErrClosed) {
		r.mu.Unlock()
		return err
	}
	r.providers[name] = fn
	if cn == nil {
		r.mu.Unlock()
		return nil
	}
	w, tf := track.NewWaiter()
	id := r.c.tracker.Add(cn, tf)
	err = cn.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: id, Name: name})
	r.mu.Unlock()
	if err != nil {
		r.c.tracker.Cancel(id)
		if errors.Is(err, conn.ErrClosed) {
			return nil // the connection is ending: the reconnect provides it
		}
		r.forget(name)
		return r.c.sendErr(err)
	}
	return r.await(w, id, "provide", name, true)
}

// Unprovide stops providing name. Requests already delivered to the handler
// can still be answered. Unproviding a name this client does not provide is
// an *Error with code RpcNotProvided. While reconnecting nothing is sent
// (the server forgot the name with the connection).
func (r *RPC) Unprovide(name string) error {
	r.mu.Lock()
	if _, ok := r.providers[name]; !ok {
		r.mu.Unlock()
		return &Error{Code: protocol.CodeRpcNotProvided, Op: "unprovide", Name: name}
	}
	delete(r.providers, name)
	cn := r.c.cur.Load()
	if cn == nil {
		r.mu.Unlock()
		return nil
	}
	w, tf := track.NewWaiter()
	id := r.c.tracker.Add(cn, tf)
	err := cn.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionUnprovide, ID: id, Name: name})
	r.mu.Unlock()
	if err != nil {
		r.c.tracker.Cancel(id)
		return nil // the connection is ending, and the server forgets with it
	}
	return r.await(w, id, "unprovide", name, false)
}

// await waits for the Ack of a Provide or Unprovide. A refused Provide is
// undone locally.
func (r *RPC) await(w *track.Waiter, id uint64, op, name string, undo bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.c.opts.requestTimeout)
	defer cancel()
	rep, err := w.Wait(ctx)
	switch {
	case err != nil:
		r.c.tracker.Cancel(id)
		return wrapErr(fmt.Sprintf("%s %q", op, name), err)
	case rep.Err != nil:
		return nil // connection lost: renewed (or forgotten) with the reconnect
	case rep.Action == fb.ActionError:
		if undo {
			r.forget(name)
		}
		return &Error{Code: protocol.Code(rep.Code), Reason: rep.Reason, Op: op, Name: name}
	}
	return nil
}

func (r *RPC) forget(name string) {
	r.mu.Lock()
	delete(r.providers, name)
	r.mu.Unlock()
}

// Make calls the rpc name with data (marshalled with encoding/json; a
// json.RawMessage is sent as is) and returns the provider's response.
//
// Errors: ErrNoProvider (errors.Is) when nobody could take the request,
// ErrTimeout when a server deadline passed or ctx's deadline did, an
// *Error with code RpcProviderError and the provider's message as Reason
// when the provider reported an error, ErrConnectionLost when the
// connection dropped before the answer (the call may or may not have run),
// ErrNotConnected while reconnecting (nothing was sent).
//
// When ctx has a deadline, the server is asked to give up at the same
// moment (the request's timeout_ms); otherwise the server's configured
// deadlines apply.
func (r *RPC) Make(ctx context.Context, name string, data any) (json.RawMessage, error) {
	if err := validName("rpc", name); err != nil {
		return nil, err
	}
	body, err := json.Marshal(data)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("rpc %q", name), err)
	}
	cn, err := r.c.live()
	if err != nil {
		return nil, err
	}
	m := msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, Name: name, Data: body}
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms < 1 {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
		}
		m.TimeoutMs = uint32(min(ms, math.MaxUint32))
	}
	w, tf := track.NewWaiter()
	m.ID = r.c.tracker.Add(cn, tf)
	if err := cn.SendWait(&m); err != nil {
		r.c.tracker.Cancel(m.ID)
		return nil, r.c.sendErr(err)
	}
	rep, err := w.Wait(ctx)
	switch {
	case err != nil:
		r.c.tracker.Cancel(m.ID)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, wrapErr(fmt.Sprintf("rpc %q", name), ErrTimeout, err)
		}
		return nil, wrapErr(fmt.Sprintf("rpc %q", name), err)
	case rep.Err != nil:
		if errors.Is(rep.Err, ErrClosed) {
			return nil, rep.Err
		}
		return nil, wrapErr(fmt.Sprintf("rpc %q", name), ErrConnectionLost)
	case rep.Action == fb.ActionResponse:
		if rep.Data == nil {
			return json.RawMessage("null"), nil
		}
		return json.RawMessage(rep.Data), nil
	}
	return nil, &Error{Code: protocol.Code(rep.Code), Reason: rep.Reason, Op: "rpc", Name: name}
}

// onMessage handles the Rpc messages that are not Acks or Errors (reader
// goroutine): answers to Make and requests for this client's providers.
func (r *RPC) onMessage(cn *conn.Conn, v *msg.View) {
	switch v.Action() {
	case fb.ActionResponse, fb.ActionRequestError:
		r.c.tracker.Resolve(v.Id(), v)
	case fb.ActionAccept:
		// A provider took the request; Make keeps waiting for the answer.
	case fb.ActionRequest:
		name := string(v.Name())
		r.mu.Lock()
		fn := r.providers[name]
		r.mu.Unlock()
		if fn == nil { // unprovided meanwhile: let another provider have it
			_ = cn.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionReject, ID: v.Id()})
			return
		}
		req := &RPCRequest{rpc: r, cn: cn, id: v.Id(), name: name, user: string(v.User())}
		if d := v.DataBytes(); d != nil {
			req.data = append(json.RawMessage(nil), d...)
		}
		r.c.disp.call(func() {
			fn(req)
			if req.state.Load() == answerNone { // answering later: hold on to it
				_ = req.send(fb.ActionAccept, answerAccepted, nil, "")
			}
		})
	default:
		r.c.opts.logger.Debug("eddy: unexpected rpc message", "action", v.Action())
	}
}

// resubscribe provides every name again on a new connection. Refusals go
// to the error handler and the name is dropped.
func (r *RPC) resubscribe(cn *conn.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.providers))
	for n := range r.providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		id := r.c.tracker.Add(cn, func(v *msg.View, err error) {
			if err != nil || v.Action() != fb.ActionError {
				return
			}
			r.forget(name)
			r.c.reportError(&Error{Code: protocol.Code(v.Code()), Reason: string(v.Reason()), Op: "provide", Name: name})
		})
		if cn.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: id, Name: name}) != nil {
			r.c.tracker.Cancel(id)
			return
		}
	}
}

// RPCRequest is one request the server routed to a provider of this
// client. Answer it once: Respond, Error or Reject; Accept may come first.
// A handler that returns without answering accepts the request and must
// answer it later (from any goroutine). Its methods are safe from any
// goroutine.
type RPCRequest struct {
	rpc   *RPC
	cn    *conn.Conn // answers go where the request came from
	id    uint64     // the server's id
	name  string
	user  string
	data  json.RawMessage
	state atomic.Int32
}

const (
	answerNone int32 = iota
	answerAccepted
	answerDone
)

// Name is the rpc name.
func (q *RPCRequest) Name() string { return q.name }

// Data is the request's JSON input (nil when the requester sent none). It
// stays valid after the handler returns.
func (q *RPCRequest) Data() json.RawMessage { return q.data }

// User is the requester's user name when the server is configured to tell
// providers (rpc.exposeRequester), else "".
func (q *RPCRequest) User() string { return q.user }

// Accept tells the server this provider took the request, so it is not
// handed to another provider when the accept timeout passes. Respond,
// Error and Reject do not need it first.
func (q *RPCRequest) Accept() error {
	if !q.state.CompareAndSwap(answerNone, answerAccepted) {
		if q.state.Load() == answerDone {
			return ErrAlreadyAnswered
		}
		return nil
	}
	return q.sendNow(fb.ActionAccept, nil, "")
}

// Respond answers the request with v (marshalled with encoding/json; a
// json.RawMessage is sent as is). It returns ctx.Err() without answering if
// ctx is already done, and ErrConnectionLost if the connection the request
// came on is gone (the server has then rerouted or failed it). It does not
// wait for the server.
func (q *RPCRequest) Respond(ctx context.Context, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return wrapErr(fmt.Sprintf("respond %q", q.name), err)
	}
	return q.send(fb.ActionResponse, answerDone, body, "")
}

// Error answers the request with a failure; Make returns an *Error with
// code RpcProviderError and reason as its Reason.
func (q *RPCRequest) Error(reason string) error {
	return q.send(fb.ActionRequestError, answerDone, nil, reason)
}

// Reject declines the request; the server offers it to another provider,
// and the requester gets ErrNoProvider when none is left.
func (q *RPCRequest) Reject() error {
	return q.send(fb.ActionReject, answerDone, nil, "")
}

// send moves the request to state to and sends action, unless it was
// answered already.
func (q *RPCRequest) send(action fb.Action, to int32, data []byte, reason string) error {
	for {
		s := q.state.Load()
		if s == answerDone || (to == answerAccepted && s != answerNone) {
			if to == answerAccepted {
				return nil
			}
			return ErrAlreadyAnswered
		}
		if q.state.CompareAndSwap(s, to) {
			return q.sendNow(action, data, reason)
		}
	}
}

func (q *RPCRequest) sendNow(action fb.Action, data []byte, reason string) error {
	m := msg.Msg{Topic: fb.TopicRpc, Action: action, ID: q.id, Data: data, Reason: reason}
	var err error
	if action == fb.ActionResponse {
		err = q.cn.SendWait(&m)
	} else {
		err = q.cn.Send(&m)
	}
	if errors.Is(err, conn.ErrClosed) {
		return wrapErr(fmt.Sprintf("rpc %q", q.name), ErrConnectionLost)
	}
	return publicError(err)
}
