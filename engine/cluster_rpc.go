package engine

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/rpc"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// RPC across nodes (engine/rpc's doc, "Across nodes"): each node lists its
// providers in the directory as name + "\x00" + provider id; every other
// node gives each remote provider a remote Peer that forwards requests to
// the provider's node, which relays them to that provider alone and sends
// the answers back.

const (
	kindRPC = 'r' // directory: a provider of a name on the node

	msgRPCRequest = 'q' // node message: provider id, then the Request frame
	msgRPCAnswer  = 'a' // node message: an answer frame for the owning node
)

type clusterRPC struct {
	s *Server
	n *cluster.Node

	mu        sync.Mutex
	local     map[uint64]*localProvider // this node's providers by id
	remote    map[string]*remoteProvider
	owner     map[*rpc.Peer]string // remote Peer → its node
	requester map[string]*rpc.Peer // per requesting node, the Peer its relayed requests come from
}

type localProvider struct {
	p     *rpc.Peer
	names int
}

type remoteProvider struct {
	p     *rpc.Peer
	names map[string]struct{}
}

func newClusterRPC(s *Server, n *cluster.Node) *clusterRPC {
	c := &clusterRPC{s: s, n: n, local: make(map[uint64]*localProvider), remote: make(map[string]*remoteProvider),
		owner: make(map[*rpc.Peer]string), requester: make(map[string]*rpc.Peer)}
	s.rpc.SetBus(c)
	dir := n.Directory()
	dir.OnEntry(kindRPC, c.entry)
	dir.OnNodeDown(c.nodeDown)
	n.Handle(msgRPCRequest, c.onRequest)
	n.Handle(msgRPCAnswer, c.onAnswer)
	return c
}

// Provided implements rpc.Bus.
func (c *clusterRPC) Provided(p *rpc.Peer, name string, on bool) {
	id := p.ID()
	c.mu.Lock()
	lp := c.local[id]
	if on {
		if lp == nil {
			lp = &localProvider{p: p}
			c.local[id] = lp
		}
		lp.names++
	} else if lp != nil {
		if lp.names--; lp.names == 0 {
			delete(c.local, id)
		}
	}
	c.mu.Unlock()
	key := name + "\x00" + strconv.FormatUint(id, 36)
	if on {
		c.n.Directory().Set(kindRPC, key)
	} else {
		c.n.Directory().Delete(kindRPC, key)
	}
}

// entry mirrors another node's provider in the rpc table.
func (c *clusterRPC) entry(node, key string, add bool) {
	name, id, ok := strings.Cut(key, "\x00")
	if !ok {
		return
	}
	rk := node + "\x00" + id
	c.mu.Lock()
	rp := c.remote[rk]
	if rp == nil {
		if !add {
			c.mu.Unlock()
			return
		}
		rp = &remoteProvider{names: make(map[string]struct{})}
		rp.p = rpc.NewRemotePeer(&toProvider{c: c, node: node, id: id})
		c.remote[rk] = rp
		c.owner[rp.p] = node
	}
	c.mu.Unlock()
	if add {
		if _, dup := rp.names[name]; !dup {
			rp.names[name] = struct{}{}
			_ = c.s.rpc.Provide(rp.p, name)
		}
		return
	}
	if _, had := rp.names[name]; !had {
		return
	}
	delete(rp.names, name)
	_ = c.s.rpc.Unprovide(rp.p, name)
	if len(rp.names) == 0 {
		c.mu.Lock()
		delete(c.remote, rk)
		delete(c.owner, rp.p)
		c.mu.Unlock()
		// Reroutes what was waiting for it; fails what it had accepted.
		c.s.rpc.Close(rp.p)
	}
}

// nodeDown drops the requests another node had relayed here (its remote
// providers are already gone: the directory removed their entries).
func (c *clusterRPC) nodeDown(node string) {
	c.mu.Lock()
	p := c.requester[node]
	delete(c.requester, node)
	c.mu.Unlock()
	if p != nil {
		c.s.rpc.Close(p)
	}
}

// toProvider carries requests to a provider on another node.
type toProvider struct {
	c    *clusterRPC
	node string
	id   string
}

func (t *toProvider) Send(frame []byte) error {
	bp := rpcBufs.Get().(*[]byte)
	b := append((*bp)[:0], t.id...)
	b = append(b, 0)
	b = append(b, frame...)
	err := t.c.n.SendTo(t.node, msgRPCRequest, b)
	*bp = b
	if cap(b) <= 64<<10 {
		rpcBufs.Put(bp)
	}
	return err
}

var rpcBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// toRequester carries a relayed request's answers back to the node that
// owns it.
type toRequester struct {
	c    *clusterRPC
	node string
}

func (t *toRequester) Send(frame []byte) error { return t.c.n.SendTo(t.node, msgRPCAnswer, frame) }

// onRequest relays a request from node from to the local provider it
// names.
func (c *clusterRPC) onRequest(from string, payload []byte) {
	cut := bytes.IndexByte(payload, 0)
	if cut < 0 {
		return
	}
	id, frame := msg.UnsafeString(payload[:cut]), payload[cut+1:]
	var v msg.View // RequestTo copies what it keeps: no copy of the frame here
	if v.Reset(frame) != nil || v.Topic() != fb.TopicRpc || v.Action() != fb.ActionRequest {
		return
	}
	pid, err := strconv.ParseUint(id, 36, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	lp := c.local[pid]
	req := c.requester[from]
	if req == nil {
		req = rpc.NewNodePeer(&toRequester{c: c, node: from})
		c.requester[from] = req
	}
	c.mu.Unlock()
	if lp == nil {
		// Gone meanwhile: let the owner ask another provider.
		m := msg.Msg{Topic: fb.TopicRpc, Action: fb.ActionReject, ID: v.Id()}
		_ = c.n.SendTo(from, msgRPCAnswer, msg.Append(nil, &m))
		return
	}
	call := rpc.Call{ID: v.Id(), Name: v.Name(), Data: v.DataBytes(), User: string(v.User()),
		Timeout: time.Duration(v.TimeoutMs()) * time.Millisecond, AcceptTimeout: time.Duration(v.AcceptTimeoutMs()) * time.Millisecond}
	c.s.rpc.RequestTo(req, &call, lp.p)
}

// onAnswer applies a provider node's answer to a request this node owns.
func (c *clusterRPC) onAnswer(from string, frame []byte) {
	var v msg.View
	if v.Reset(frame) != nil || v.Topic() != fb.TopicRpc {
		return
	}
	id := v.Id()
	p := c.s.rpc.ProviderOf(id)
	if p == nil || !p.IsRemote() {
		return
	}
	c.mu.Lock()
	owner := c.owner[p]
	c.mu.Unlock()
	if owner != from {
		return // the request has moved on
	}
	switch v.Action() {
	case fb.ActionAccept:
		_ = c.s.rpc.Accept(p, id)
	case fb.ActionResponse:
		_ = c.s.rpc.Respond(p, id, v.DataBytes())
	case fb.ActionReject:
		_ = c.s.rpc.Reject(p, id)
	case fb.ActionRequestError:
		_ = c.s.rpc.FailCode(p, id, protocol.Code(v.Code()), string(v.Reason()))
	}
}
