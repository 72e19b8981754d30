// Package rpc is the remote-procedure-call table: which connections provide
// which names, and every request in flight between a requester and the
// provider the server picked for it.
//
// # Routing
//
// A request is forwarded to one provider of its name, chosen round-robin or
// at random (Config.Selection), under a correlation id the table picks: a
// requester's id never reaches a provider. Providers on this node other
// than the requester are asked first, then providers on other nodes
// (cluster mode), and the requester's own connection last, so every
// provider is asked once. A provider answers with Accept, then Response or
// RequestError; or with Reject, which sends the request to a provider not
// yet tried. When none is left the requester gets RequestError
// NoRpcProvider.
//
// # Across nodes
//
// A provider on another node is a Peer made with NewRemotePeer whose Conn
// carries requests to that node. The node that received the request owns
// it: its deadlines, its reroutes, its answer to the requester. The
// provider's node relays it with RequestTo to that one provider and sends
// back Accept, Response, RequestError, or Reject when the provider
// declined, timed out or left before accepting; the owner then asks the
// next provider. The owner applies those answers with Accept, Respond,
// Reject and FailCode, naming the remote Peer ProviderOf reports.
//
// # Deadlines
//
// Each request has one timer on a hashed timing wheel (engine/internal/
// timewheel); every lock shard owns a wheel guarded by its mutex, and one
// goroutine (Run) advances them all. Until the provider accepts, the timer
// holds the accept deadline (sent + accept timeout); when it passes, the
// request is rerouted like a Reject, and if no provider is left the
// requester gets RpcAcceptTimeout. After Accept it holds the response
// deadline (sent + response timeout); when that passes the requester gets
// RpcResponseTimeout. Answers arriving after a request ended get
// ErrUnknownRequest. If a provider disconnects, its requests not yet
// accepted are rerouted and accepted ones fail with NoRpcProvider; if a
// requester disconnects, its requests are dropped.
//
// # Concurrency
//
// Every Table method is safe from any goroutine. A Peer's Provide,
// Unprovide and Close must not run concurrently with each other (the
// session calls them from its loop); all other calls naming a Peer may come
// from anywhere. Messages go out through Conn.Send, which must not block.
//
// Lock order: request shard → (provider shard | Peer.mu | Conn). Provider
// shards and Peer.mu are leaves: nothing is locked while holding them, and
// no two shards of the same kind are ever held together.
//
// # Invariants
//
//  1. Every pending request is in exactly one request shard's map, listed in
//     its requester's made set and (while assigned) its provider's asked
//     set, and has exactly one timer scheduled. Ending a request removes all
//     four; a closed Peer is in no set and no provider list.
//  2. A provider list holds a Peer at most once; a name with no providers
//     has no map entry.
//  3. A request is answered to its requester exactly once: Response,
//     RequestError, or nothing if the requester closed first.
package rpc
