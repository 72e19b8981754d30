package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/engine/rpc"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// userOn opens a connection with dial and logs in as user ("" anonymous).
func userOn(t *testing.T, srv *engine.Server, dial dialer, user string) *enginetest.Client {
	t.Helper()
	c := dial(t, srv)
	c.Handshake()
	if user == "" {
		c.Login("")
	} else {
		c.Login(`{"username":"` + user + `"}`)
	}
	return c
}

// quiet checks that nothing but the answer to a ping is waiting on c.
func quiet(t *testing.T, c *enginetest.Client) {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 777})
	if v := c.Expect(fb.TopicConnection, fb.ActionPong); v.Id() != 777 {
		t.Fatalf("pong id %d", v.Id())
	}
}

// expectCode reads the next message of topic/action and checks its code.
func expectCode(t *testing.T, c *enginetest.Client, topic fb.Topic, action fb.Action, code protocol.Code) *msg.View {
	t.Helper()
	v := c.Expect(topic, action)
	if protocol.Code(v.Code()) != code {
		t.Fatalf("want %v, got %v: %s", code, protocol.Code(v.Code()), v.Reason())
	}
	return v
}

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func provide(t *testing.T, c *enginetest.Client, name string) {
	t.Helper()
	c.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: 1, Name: name})
	if v := c.Expect(fb.TopicRpc, fb.ActionAck); v.Id() != 1 {
		t.Fatalf("provide ack id %d", v.Id())
	}
}

func request(c *enginetest.Client, id uint64, name, data string) {
	c.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: id, Name: name, Data: []byte(data)})
}

// forwarded reads a Request as a provider sees it and returns its id.
func forwarded(t *testing.T, c *enginetest.Client, name, data string) uint64 {
	t.Helper()
	v := c.Expect(fb.TopicRpc, fb.ActionRequest)
	if string(v.Name()) != name || string(v.DataBytes()) != data || v.Id() == 0 {
		t.Fatalf("forwarded request: name %q data %q id %d", v.Name(), v.DataBytes(), v.Id())
	}
	return v.Id()
}

func rpcReply(c *enginetest.Client, action fb.Action, id uint64, data string) {
	m := &msg.Msg{Topic: fb.TopicRpc, Action: action, ID: id}
	if action == fb.ActionRequestError {
		m.Reason = data
	} else if data != "" {
		m.Data = []byte(data)
	}
	c.Send(m)
}

func rpcEmpty(t *testing.T, srv *engine.Server) {
	t.Helper()
	eventually(t, "rpc table empty", func() bool { return srv.RPC().Stats() == (rpc.Stats{}) })
}

func TestRPCOverEveryTransport(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			prov := userOn(t, srv, dial, "bob")
			req := userOn(t, srv, dial, "ann")
			provide(t, prov, "add-two")

			request(req, 42, "add-two", `5`)
			v := prov.Expect(fb.TopicRpc, fb.ActionRequest)
			id := v.Id()
			if id == 42 || id == 0 || string(v.Name()) != "add-two" || string(v.DataBytes()) != `5` {
				t.Fatalf("forwarded: id %d name %q data %q", id, v.Name(), v.DataBytes())
			}
			if len(v.User()) != 0 {
				t.Fatalf("requester exposed without exposeRequester: %q", v.User())
			}
			if v.TimeoutMs() != 10000 || v.AcceptTimeoutMs() != 1000 {
				t.Fatalf("deadlines %d/%d ms", v.TimeoutMs(), v.AcceptTimeoutMs())
			}
			rpcReply(prov, fb.ActionAccept, id, "")
			if a := req.Expect(fb.TopicRpc, fb.ActionAccept); a.Id() != 42 {
				t.Fatalf("accept id %d", a.Id())
			}
			big := `{"pad":"` + strings.Repeat("x", 2000) + `"}` // compressed on ws-deflate
			rpcReply(prov, fb.ActionResponse, id, big)
			if r := req.Expect(fb.TopicRpc, fb.ActionResponse); r.Id() != 42 || string(r.DataBytes()) != big {
				t.Fatalf("response id %d data %d bytes", r.Id(), len(r.DataBytes()))
			}

			// A provider's error reaches the requester with its reason.
			request(req, 43, "add-two", `"x"`)
			id = forwarded(t, prov, "add-two", `"x"`)
			rpcReply(prov, fb.ActionRequestError, id, "not a number")
			e := expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeRpcProviderError)
			if e.Id() != 43 || string(e.Reason()) != "not a number" {
				t.Fatalf("error id %d reason %q", e.Id(), e.Reason())
			}
			quiet(t, req)
			quiet(t, prov)
		})
	}
	rpcEmpty2(t, srv)
}

// rpcEmpty2 checks that no request is pending (providers may remain).
func rpcEmpty2(t *testing.T, srv *engine.Server) {
	t.Helper()
	eventually(t, "no pending requests", func() bool {
		s := srv.RPC().Stats()
		return s.Requests == 0 && s.Timers == 0
	})
}

func TestRPCRejectReroutesThenNoProvider(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			p1 := userOn(t, srv, dial, "")
			p2 := userOn(t, srv, dial, "")
			req := userOn(t, srv, dial, "")
			provide(t, p1, "job-"+name)
			provide(t, p2, "job-"+name)
			request(req, 7, "job-"+name, `{"n":1}`)
			// Round robin: the first provider registered is asked first.
			id := forwarded(t, p1, "job-"+name, `{"n":1}`)
			rpcReply(p1, fb.ActionReject, id, "")
			if id2 := forwarded(t, p2, "job-"+name, `{"n":1}`); id2 != id {
				t.Fatalf("rerouted with id %d, was %d", id2, id)
			}
			quiet(t, req) // a reject is not relayed
			rpcReply(p2, fb.ActionReject, id, "")
			e := expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeNoRpcProvider)
			if e.Id() != 7 || string(e.Name()) != "job-"+name {
				t.Fatalf("error id %d name %q", e.Id(), e.Name())
			}
			quiet(t, p1) // never asked twice
		})
	}
	rpcEmpty2(t, srv)
}

func TestRPCTimeouts(t *testing.T) {
	// The test's own accepts and answers must beat the accept timeout even
	// when a loaded machine stalls it for a while: 300ms, not less.
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.RPC.AcceptTimeout = 300 * time.Millisecond
		o.RPC.ResponseTimeout = 600 * time.Millisecond
	})
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			prov := userOn(t, srv, dial, "")
			req := userOn(t, srv, dial, "")
			provide(t, prov, "slow-"+name)

			// Nobody accepts: RpcAcceptTimeout after the accept timeout.
			start := time.Now()
			request(req, 1, "slow-"+name, `1`)
			id := forwarded(t, prov, "slow-"+name, `1`)
			expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeRpcAcceptTimeout)
			if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
				t.Fatalf("accept timeout after %v", d)
			}
			// Too late: the provider is told the request is unknown.
			rpcReply(prov, fb.ActionAccept, id, "")
			if v := expectCode(t, prov, fb.TopicRpc, fb.ActionError, protocol.CodeRpcUnknownRequest); v.Id() != id {
				t.Fatalf("error id %d", v.Id())
			}

			// Accepted but never answered: RpcResponseTimeout.
			start = time.Now()
			request(req, 2, "slow-"+name, `2`)
			id = forwarded(t, prov, "slow-"+name, `2`)
			rpcReply(prov, fb.ActionAccept, id, "")
			req.Expect(fb.TopicRpc, fb.ActionAccept)
			e := expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeRpcResponseTimeout)
			if d := time.Since(start); e.Id() != 2 || d < 600*time.Millisecond || d > 4*time.Second {
				t.Fatalf("response timeout id %d after %v", e.Id(), d)
			}
			rpcReply(prov, fb.ActionResponse, id, `2`) // late: dropped
			expectCode(t, prov, fb.TopicRpc, fb.ActionError, protocol.CodeRpcUnknownRequest)
			quiet(t, req)

			// Per-call deadline: timeout_ms overrides the configured one.
			start = time.Now()
			req.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: 3, Name: "slow-" + name, TimeoutMs: 30, AcceptTimeoutMs: 20000})
			v := prov.Expect(fb.TopicRpc, fb.ActionRequest)
			if v.TimeoutMs() != 30 || v.AcceptTimeoutMs() != 30 {
				t.Fatalf("per-call deadlines %d/%d", v.TimeoutMs(), v.AcceptTimeoutMs())
			}
			expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeRpcAcceptTimeout)
			// Far below the 20s the request named for its accept.
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("per-call timeout took %v", d)
			}
		})
	}
	t.Run("accept timeout reroutes", func(t *testing.T) {
		dial := transports["tcp"]
		p1 := userOn(t, srv, dial, "")
		p2 := userOn(t, srv, dial, "")
		req := userOn(t, srv, dial, "")
		provide(t, p1, "reroute")
		provide(t, p2, "reroute")
		request(req, 9, "reroute", `9`)
		id := forwarded(t, p1, "reroute", `9`) // silent
		id2 := forwarded(t, p2, "reroute", `9`)
		if id2 != id {
			t.Fatalf("ids %d %d", id, id2)
		}
		rpcReply(p2, fb.ActionResponse, id, `"done"`)
		if r := req.Expect(fb.TopicRpc, fb.ActionResponse); r.Id() != 9 || string(r.DataBytes()) != `"done"` {
			t.Fatalf("response %d %q", r.Id(), r.DataBytes())
		}
		rpcReply(p1, fb.ActionResponse, id, `"late"`)
		expectCode(t, p1, fb.TopicRpc, fb.ActionError, protocol.CodeRpcUnknownRequest)
		quiet(t, req)
	})
	rpcEmpty2(t, srv)
}

func TestRPCDisconnects(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			p1 := userOn(t, srv, dial, "")
			p2 := userOn(t, srv, dial, "")
			req := userOn(t, srv, dial, "")
			provide(t, p1, "d-"+name)
			provide(t, p2, "d-"+name)

			// The provider asked leaves before accepting: the other one
			// gets the request.
			request(req, 1, "d-"+name, `1`)
			id := forwarded(t, p1, "d-"+name, `1`)
			_ = p1.Conn().Close()
			if id2 := forwarded(t, p2, "d-"+name, `1`); id2 != id {
				t.Fatalf("ids %d %d", id, id2)
			}
			// It accepts, then leaves: the requester is told at once.
			rpcReply(p2, fb.ActionAccept, id, "")
			req.Expect(fb.TopicRpc, fb.ActionAccept)
			_ = p2.Conn().Close()
			if e := expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeNoRpcProvider); e.Id() != 1 {
				t.Fatalf("error id %d", e.Id())
			}

			// The requester leaves: its request is dropped and the
			// provider's late answer is refused.
			p3 := userOn(t, srv, dial, "")
			provide(t, p3, "d-"+name)
			req2 := userOn(t, srv, dial, "")
			request(req2, 5, "d-"+name, `5`)
			id = forwarded(t, p3, "d-"+name, `5`)
			_ = req2.Conn().Close()
			eventually(t, "request dropped", func() bool { return srv.RPC().Pending() == 0 })
			rpcReply(p3, fb.ActionResponse, id, `6`)
			expectCode(t, p3, fb.TopicRpc, fb.ActionError, protocol.CodeRpcUnknownRequest)
			_ = p3.Conn().Close()
			quiet(t, req)
		})
	}
	rpcEmpty(t, srv)
}

func TestRPCErrors(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			prov := userOn(t, srv, dial, "")
			other := userOn(t, srv, dial, "")
			req := userOn(t, srv, dial, "")
			provide(t, prov, "e-"+name)
			prov.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: 2, Name: "e-" + name})
			if v := expectCode(t, prov, fb.TopicRpc, fb.ActionError, protocol.CodeRpcAlreadyProvided); v.Id() != 2 {
				t.Fatalf("id %d", v.Id())
			}
			prov.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionUnprovide, ID: 3, Name: "nope"})
			expectCode(t, prov, fb.TopicRpc, fb.ActionError, protocol.CodeRpcNotProvided)

			request(req, 1, "e-"+name, `1`)
			id := forwarded(t, prov, "e-"+name, `1`)
			// Answers from a client that was not asked, or for an id that
			// does not exist, are refused and change nothing.
			for _, a := range []fb.Action{fb.ActionAccept, fb.ActionReject, fb.ActionResponse, fb.ActionRequestError} {
				rpcReply(other, a, id, "")
				if v := expectCode(t, other, fb.TopicRpc, fb.ActionError, protocol.CodeRpcUnknownRequest); v.Id() != id {
					t.Fatalf("%s: error id %d", fb.EnumNamesAction[a], v.Id())
				}
				rpcReply(prov, a, id+1000, "")
				expectCode(t, prov, fb.TopicRpc, fb.ActionError, protocol.CodeRpcUnknownRequest)
			}
			quiet(t, req)
			rpcReply(prov, fb.ActionResponse, id, `2`)
			if r := req.Expect(fb.TopicRpc, fb.ActionResponse); r.Id() != 1 || string(r.DataBytes()) != `2` {
				t.Fatalf("response %d %q", r.Id(), r.DataBytes())
			}

			request(req, 4, "nobody-provides-this", `1`)
			expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeNoRpcProvider)
			request(req, 0, "e-"+name, `1`)
			expectCode(t, req, fb.TopicRpc, fb.ActionError, protocol.CodeInvalidData)
			req.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: 5})
			expectCode(t, req, fb.TopicRpc, fb.ActionError, protocol.CodeInvalidName)

			prov.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionUnprovide, ID: 6, Name: "e-" + name})
			prov.Expect(fb.TopicRpc, fb.ActionAck)
			request(req, 7, "e-"+name, `1`)
			expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeNoRpcProvider)
			quiet(t, prov)
		})
	}
	rpcEmpty2(t, srv)
}

func TestRPCNeverRoutedBackUnlessOnlyProvider(t *testing.T) {
	srv := enginetest.Start(t, nil)
	self := userOn(t, srv, transports["tcp"], "ann")
	provide(t, self, "echo")
	request(self, 1, "echo", `"me"`)
	id := forwarded(t, self, "echo", `"me"`)
	rpcReply(self, fb.ActionResponse, id, `"me"`)
	if r := self.Expect(fb.TopicRpc, fb.ActionResponse); r.Id() != 1 {
		t.Fatalf("response id %d", r.Id())
	}
	other := userOn(t, srv, transports["ws"], "bob")
	provide(t, other, "echo")
	for i := uint64(10); i < 30; i++ {
		request(self, i, "echo", `0`)
		id := forwarded(t, other, "echo", `0`)
		rpcReply(other, fb.ActionResponse, id, `1`)
		if r := self.Expect(fb.TopicRpc, fb.ActionResponse); r.Id() != i {
			t.Fatalf("response id %d, want %d", r.Id(), i)
		}
	}
	quiet(t, self)
}

func TestRPCSelection(t *testing.T) {
	for _, sel := range []string{"roundrobin", "random"} {
		t.Run(sel, func(t *testing.T) {
			srv := enginetest.Start(t, func(o *engine.Options) { o.RPC.Selection = sel })
			var provs []*enginetest.Client
			for i := 0; i < 3; i++ {
				p := userOn(t, srv, transports["tcp"], "")
				provide(t, p, "work")
				provs = append(provs, p)
			}
			req := userOn(t, srv, transports["tcp"], "")
			const n = 60
			for i := 0; i < n; i++ {
				request(req, uint64(i+1), "work", `1`)
			}
			// Each provider answers everything it got until all are answered.
			got := make([]int, len(provs))
			answered := 0
			for answered < n {
				for j, p := range provs {
					p.Timeout = 20 * time.Millisecond
					for {
						v, err := p.Next()
						if err != nil {
							break
						}
						if v.Topic() != fb.TopicRpc || v.Action() != fb.ActionRequest {
							continue
						}
						got[j]++
						rpcReply(p, fb.ActionResponse, v.Id(), `1`)
						answered++
					}
				}
			}
			for i := 0; i < n; i++ {
				req.Expect(fb.TopicRpc, fb.ActionResponse)
			}
			for j, k := range got {
				if sel == "roundrobin" && k != n/len(provs) {
					t.Fatalf("provider %d got %d of %d", j, k, n)
				}
				if k == 0 {
					t.Fatalf("provider %d got nothing", j)
				}
			}
		})
	}
}

func TestRPCExposeRequester(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) { o.RPC.ExposeRequester = true })
	prov := userOn(t, srv, transports["tcp"], "bob")
	req := userOn(t, srv, transports["ws"], "ann")
	provide(t, prov, "who")
	request(req, 1, "who", ``)
	if v := prov.Expect(fb.TopicRpc, fb.ActionRequest); string(v.User()) != "ann" {
		t.Fatalf("user %q", v.User())
	}
}

func TestRPCProvideLimitAndCleanup(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) { o.Session.MaxSubscriptions = 2 })
	c := userOn(t, srv, transports["tcp"], "")
	provide(t, c, "a")
	provide(t, c, "b")
	c.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: 2, Name: "b"}) // the duplicate is named as such
	expectCode(t, c, fb.TopicRpc, fb.ActionError, protocol.CodeRpcAlreadyProvided)
	c.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionProvide, ID: 3, Name: "c"})
	expectCode(t, c, fb.TopicRpc, fb.ActionError, protocol.CodeTooManySubscriptions)
	c.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionUnprovide, ID: 4, Name: "a"})
	c.Expect(fb.TopicRpc, fb.ActionAck)
	provide(t, c, "c")
	if s := srv.RPC().Stats(); s.Providers != 2 {
		t.Fatalf("stats %+v", s)
	}
	_ = c.Conn().Close()
	rpcEmpty(t, srv)
}

// A requester that provides the name itself is asked last, after every
// other provider rejected, before the request fails.
func TestRPCRequesterAskedLast(t *testing.T) {
	srv := enginetest.Start(t, nil)
	self := userOn(t, srv, transports["tcp"], "ann")
	other := userOn(t, srv, transports["ws"], "bob")
	provide(t, self, "echo")
	provide(t, other, "echo")
	request(self, 5, "echo", `1`)
	rpcReply(other, fb.ActionReject, forwarded(t, other, "echo", `1`), "")
	id := forwarded(t, self, "echo", `1`)
	rpcReply(self, fb.ActionResponse, id, `2`)
	if r := self.Expect(fb.TopicRpc, fb.ActionResponse); r.Id() != 5 || string(r.DataBytes()) != `2` {
		t.Fatalf("response %d %q", r.Id(), r.DataBytes())
	}
	request(self, 6, "echo", `1`)
	rpcReply(other, fb.ActionReject, forwarded(t, other, "echo", `1`), "")
	rpcReply(self, fb.ActionReject, forwarded(t, self, "echo", `1`), "")
	if v := expectCode(t, self, fb.TopicRpc, fb.ActionRequestError, protocol.CodeNoRpcProvider); !strings.Contains(string(v.Reason()), "every provider rejected it") {
		t.Fatalf("reason %q", v.Reason())
	}
	quiet(t, other)
}

// Requests in flight are bounded per connection (count and bytes) and
// the deadline a requester asks for is capped: a client cannot make the
// server hold its requests without limit.
func TestRPCPendingBounds(t *testing.T) {
	srv := enginetest.Start(t, func(o *engine.Options) {
		o.RPC.MaxPendingPerConnection = 3
		o.RPC.MaxPendingBytesPerConnection = 64 << 10
		o.RPC.MaxTimeout = 2 * time.Second
	})
	prov := userOn(t, srv, transports["tcp"], "")
	provide(t, prov, "slow")
	req := userOn(t, srv, transports["ws"], "")
	// Asking for 49 days: the provider is given the cap.
	req.Send(&msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionRequest, ID: 1, Name: "slow", Data: []byte(`1`), TimeoutMs: 1<<32 - 1})
	v := prov.Expect(fb.TopicRpc, fb.ActionRequest)
	if v.TimeoutMs() != 2000 {
		t.Fatalf("provider told timeout %dms, want the 2000ms cap", v.TimeoutMs())
	}
	rpcReply(prov, fb.ActionAccept, v.Id(), "")
	req.Expect(fb.TopicRpc, fb.ActionAccept)
	request(req, 2, "slow", `2`)
	request(req, 3, "slow", `3`)
	request(req, 4, "slow", `4`) // the fourth pending: refused at once
	if e := expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeRpcTooManyPending); e.Id() != 4 {
		t.Fatalf("refused id %d", e.Id())
	}
	// The two never accepted time out, and the accepted one at the cap,
	// freeing room (in whatever order a loaded machine runs the timers).
	got := map[uint64]protocol.Code{}
	for i := 0; i < 3; i++ {
		e := req.Expect(fb.TopicRpc, fb.ActionRequestError)
		got[e.Id()] = protocol.Code(e.Code())
	}
	if got[1] != protocol.CodeRpcResponseTimeout || got[2] != protocol.CodeRpcAcceptTimeout || got[3] != protocol.CodeRpcAcceptTimeout {
		t.Fatalf("timeouts %v", got)
	}
	// Bytes: one request larger than the per-connection byte bound.
	big := `"` + strings.Repeat("x", 70<<10) + `"`
	request(req, 5, "slow", big)
	if e := expectCode(t, req, fb.TopicRpc, fb.ActionRequestError, protocol.CodeRpcTooManyPending); e.Id() != 5 {
		t.Fatalf("refused id %d", e.Id())
	}
	rpcEmpty2(t, srv)
}
