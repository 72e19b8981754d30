package load

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func init() { Register(rpcScenario{}) }

// RPCName is the procedure (and NATS subject) the rpc scenario calls.
const RPCName = "bench.rpc"

// RPCClient is a Client that provides and calls remote procedures (rpc).
// Concurrency as Client: Request belongs to the connection's driving
// goroutine; answers are handled on its reader.
type RPCClient interface {
	Client
	// Provide makes the connection a provider of name that answers every
	// request with the request's own data (an echo), on its reader.
	Provide(ctx context.Context, name string) error
	// ExpectResponses readies the connection to make requests: fn then
	// receives every answer on the reader goroutine, with the request's id
	// and the data answered (valid only during the call), or the error the
	// target reported for that request.
	ExpectResponses(ctx context.Context, fn func(id uint64, data []byte, err error)) error
	// Request queues a request for name (written on Flush); id is unique
	// on the connection, counted up from 1.
	Request(name string, id uint64, data []byte) error
}

// rpcScenario is DESIGN.md's rpc: Subs providers of one procedure that
// echo each request's data, and Pubs requesters each keeping up to
// Window/Pubs requests in flight (or, with Rate, sending Rate requests/s
// in total). Every request carries a bench payload stamped with its id and
// send time; every answer must come once, to a request in flight, with
// the request's own data.
//
// Eddy: Rpc/Provide; each forwarded Request is answered with a Response
// alone (docs/protocol.md: a Response within the accept timeout needs no
// Accept); providers write their answers once per read. NATS: 10
// queue-group subscribers answering with Respond, requesters publishing
// with a reply subject per request under one inbox subscription.
//
// Figures: rates "requests" (round trips completed per second) and "sent";
// latency request->response; counts "sent", "answered", "failed",
// "bad_payload", "unknown", "unanswered", "errors".
type rpcScenario struct{}

func (rpcScenario) Name() string     { return "rpc" }
func (rpcScenario) Headline() string { return "requests" }

func (rpcScenario) defaults() (Params, string) {
	p := DefaultParams()
	p.Pubs, p.Subs = 100, 10
	p.Window = 1600 // 16 in flight per requester
	return p, "tcp"
}

// Run implements Scenario.
func (rpcScenario) Run(ctx context.Context, target Target, p Params) (Figures, []string, error) {
	if err := p.Validate(); err != nil {
		return Figures{}, nil, err
	}
	if p.Subs < 1 {
		return Figures{}, nil, fmt.Errorf("load: providers (subs) %d: want at least 1", p.Subs)
	}
	r := newCallRun(p)
	defer r.closeAll()
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dial := func() (RPCClient, error) {
		c, err := target.Dial(dialCtx)
		if err != nil {
			return nil, err
		}
		r.clients = append(r.clients, c)
		rc, ok := c.(RPCClient)
		if !ok {
			return nil, fmt.Errorf("%w: its clients have no RPC", ErrUnsupported)
		}
		return rc, nil
	}
	for i := 0; i < p.Subs; i++ {
		rc, err := dial()
		if err != nil {
			return Figures{}, nil, err
		}
		if err := rc.Provide(dialCtx, RPCName); err != nil {
			return Figures{}, nil, err
		}
	}
	window := p.Window / p.Pubs
	requesters := make([]RPCClient, p.Pubs)
	for i := range requesters {
		rc, err := dial()
		if err != nil {
			return Figures{}, nil, err
		}
		cl := r.addCaller(rc, window)
		size := p.Size
		err = rc.ExpectResponses(dialCtx, func(id uint64, data []byte, err error) {
			if err != nil {
				cl.answer(id, answerFailed, err)
				return
			}
			pub, seq, _, perr := ReadPayload(data)
			if perr != nil || len(data) != size || pub != cl.idx || seq != id {
				cl.answer(id, answerBad, nil)
				return
			}
			cl.answer(id, answerOK, nil)
		})
		if err != nil {
			return Figures{}, nil, err
		}
		requesters[i] = rc
	}
	start := Now()
	f, problems := r.measure(ctx, func(cl *caller) error {
		rc := requesters[cl.idx]
		payload, err := NewPayload(p.Size, cl.idx)
		if err != nil {
			return err
		}
		return r.loop(cl, start, func(id uint64, at int64) error {
			Stamp(payload, id, at)
			return rc.Request(RPCName, id, payload)
		}, rc.Flush)
	}, "requests", "sent")
	return f, problems, ctx.Err()
}

// eddyRPC is an eddyClient's RPC state.
type eddyRPC struct {
	providing atomic.Bool
	onResp    atomic.Pointer[func(uint64, []byte, error)]
	respTmpl  *msgTemplate // reader goroutine only
	reqTmpl   *msgTemplate // requester goroutine only
	reqFor    string
}

var _ RPCClient = (*eddyClient)(nil)

// Provide implements RPCClient.
func (e *eddyClient) Provide(ctx context.Context, name string) error {
	e.rpc.providing.Store(true)
	return e.c.Call(ctx, &msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, Name: name})
}

// ExpectResponses implements RPCClient.
func (e *eddyClient) ExpectResponses(_ context.Context, fn func(uint64, []byte, error)) error {
	e.rpc.onResp.Store(&fn)
	return nil
}

// Request implements RPCClient: an Rpc/Request encoded once and refilled.
func (e *eddyClient) Request(name string, id uint64, data []byte) error {
	if e.rpc.reqFor != name || !e.rpc.reqTmpl.fits(data) {
		t, err := newTemplate(msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: templateMarker, Name: name}, len(data))
		if err != nil {
			return err
		}
		e.rpc.reqTmpl, e.rpc.reqFor = t, name
	}
	return e.c.SendPayload(e.rpc.reqTmpl.fill(data, id))
}

// onReadBatch flushes a provider's answers once per read.
func (e *eddyClient) onReadBatch() {
	if e.rpc.providing.Load() {
		_ = e.c.Flush()
	}
}

// onRPC handles Rpc messages on the reader goroutine.
func (e *eddyClient) onRPC(v *msg.View) {
	switch v.Action() {
	case fb.ActionRequest:
		data := v.DataBytes()
		if len(data) == 0 {
			_ = e.c.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionResponse, ID: v.Id(), Data: []byte("null")})
			return
		}
		if !e.rpc.respTmpl.fits(data) {
			t, err := newTemplate(msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionResponse, ID: templateMarker}, len(data))
			if err != nil {
				e.c.fail(err)
				return
			}
			e.rpc.respTmpl = t
		}
		_ = e.c.SendPayload(e.rpc.respTmpl.fill(data, v.Id()))
	case fb.ActionResponse, fb.ActionRequestError:
		fn := e.rpc.onResp.Load()
		if fn == nil {
			e.c.fail(fmt.Errorf("load: Rpc/%s for a client that made no request", actionName(v.Action())))
			return
		}
		if v.Action() == fb.ActionResponse {
			(*fn)(v.Id(), v.DataBytes(), nil)
			return
		}
		(*fn)(v.Id(), nil, fmt.Errorf("load: Rpc/RequestError: code %d: %s", v.Code(), v.Reason()))
	case fb.ActionAccept:
	case fb.ActionError:
		e.c.fail(fmt.Errorf("load: Rpc/Error (id %d): code %d: %s", v.Id(), v.Code(), v.Reason()))
	default:
		e.c.fail(fmt.Errorf("load: unexpected Rpc/%s", actionName(v.Action())))
	}
}

// natsRPC is a natsClient's RPC state.
type natsRPC struct {
	inbox    string // requesters: replies arrive on inbox.<id>
	replyBuf []byte // requester goroutine only
}

var _ RPCClient = (*natsClient)(nil)

// Provide implements RPCClient: a queue-group subscriber that echoes.
func (c *natsClient) Provide(ctx context.Context, name string) error {
	sub, err := c.nc.QueueSubscribe(name, "eddy-bench", func(m *nats.Msg) {
		if err := m.Respond(m.Data); err != nil {
			c.fail(fmt.Errorf("load: nats respond: %w", err))
		}
	})
	if err != nil {
		return fmt.Errorf("load: nats provide: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("load: nats provide: %w", err)
	}
	return c.nc.FlushWithContext(ctx)
}

// ExpectResponses implements RPCClient: one subscription to inbox.*; the
// last token of the subject a reply arrives on is the request's id.
func (c *natsClient) ExpectResponses(ctx context.Context, fn func(uint64, []byte, error)) error {
	inbox := nats.NewInbox()
	sub, err := c.nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		dot := strings.LastIndexByte(m.Subject, '.')
		id, err := strconv.ParseUint(m.Subject[dot+1:], 10, 64)
		if err != nil {
			c.fail(fmt.Errorf("load: nats reply on %q", m.Subject))
			return
		}
		fn(id, m.Data, nil)
	})
	if err != nil {
		return fmt.Errorf("load: nats inbox: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("load: nats inbox: %w", err)
	}
	c.rpc.inbox = inbox
	return c.nc.FlushWithContext(ctx)
}

var errNoInbox = errors.New("load: nats request before ExpectResponses")

// Request implements RPCClient: a publish with the reply subject inbox.<id>
// (nats.go copies the subject into its buffer, so it is built in place).
func (c *natsClient) Request(name string, id uint64, data []byte) error {
	if c.rpc.inbox == "" {
		return errNoInbox
	}
	c.rpc.replyBuf = strconv.AppendUint(append(append(c.rpc.replyBuf[:0], c.rpc.inbox...), '.'), id, 10)
	if err := c.nc.PublishRequest(name, msg.UnsafeString(c.rpc.replyBuf), data); err != nil {
		return fmt.Errorf("load: nats request: %w", err)
	}
	return nil
}
