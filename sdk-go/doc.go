// Package eddy is the Go client for the Eddy realtime server.
//
//	c, err := eddy.Dial(ctx, "tcp://127.0.0.1:6021",
//		eddy.WithAuth(map[string]any{"username": "ann", "password": "..."}))
//	if err != nil { ... }
//	defer c.Close()
//	sub, err := c.Event.Subscribe("news/sport", func(data []byte) { ... })
//	err = c.Event.Emit("news/sport", []byte(`{"score":[2,1]}`))
//	err = sub.Unsubscribe()
//
// Addresses are tcp://host:port (raw TCP, frames as in docs/protocol.md;
// host:port without a scheme means the same), tls://host:port (the same
// inside TLS), ws://host:port/path and wss://... (one binary WebSocket
// message per protocol message). An address that does not answer as an
// Eddy server fails within the dial timeout with an error matching
// ErrNotEddy that says what it answered.
//
// # What a client offers
//
//   - c.Event (Events): Subscribe, SubscribeMany, Emit, EmitJSON, EmitAck,
//     and Listen/Unlisten for active providers.
//   - c.Record (Records): Get a shared, subscribed *Record and read, write
//     (Set, SetPath, SetWithAck, Erase), subscribe by path, Discard or
//     Delete it; Has, Head, Snapshot and SetData without holding one; lists
//     (GetList) and anonymous records (GetAnonymousRecord). Version
//     conflicts are merged with a MergeStrategy (RemoteWins by default,
//     LocalWins, or MergeWith a function), set with WithMergeStrategy or per
//     name and pattern. The Records type documents sharing, ordering,
//     conflicts and reconnection.
//   - c.RPC (RPC): Provide, Unprovide and Make.
//   - c.Presence (Presence): GetAll, Get, Subscribe and SubscribeTo.
//   - NewHTTPClient: the server's HTTP API (POST /api) for code that does
//     not hold a connection.
//
// # Connection life
//
// Dial connects, sends Connection/Handshake, waits for HandshakeAck, logs in
// with the WithAuth data, or what the WithAuthFunc function returns (asked
// again before every login), or anonymously, and returns a client that is
// Open.
// A refused login is Dial's error, an *Error matching ErrAuthFailed. Every
// server error carries a protocol.Code; *Error matches the sentinels
// (ErrPermissionDenied, ErrNotSubscribed, ...) with errors.Is.
//
// The client answers the server's Pings and sends its own every heartbeat
// interval (WithHeartbeat, by default the server's heartbeatMs); a Ping
// unanswered for two intervals counts as a lost connection. When the
// connection is lost, unless Close was called or the server closed with a
// code the catalogue marks as final, the client goes Reconnecting, redials
// with jittered exponential backoff (WithReconnect), logs in again and
// renews every event subscription with one bulk Subscribe, then is Open
// again once the server has answered a Ping sent after the renewals: an
// event published after Open reaches the renewed subscriptions. A login
// refused on reconnect stops the client in AuthFailed. Every
// state change reaches WithConnectionStateHandler, in order.
//
// While reconnecting, Emit returns ErrNotConnected (nothing is queued for
// later), and Subscribe records the subscription locally and returns; it is
// sent with the renewal.
//
// # Callbacks
//
// All callbacks of a client (event subscribers, the state handler, the error
// handler) run on one callback goroutine per client, in the order their
// causes arrived; never on the goroutine reading the socket, so a slow
// callback cannot delay the answers to the server's Pings. Events from one
// publisher arrive in the order it published them. The data a subscriber
// gets is valid only until its callback returns.
//
// Callbacks may call any method of the client, Close and Unsubscribe
// included. Received events waiting for slow callbacks are bounded
// (WithPendingLimit); beyond it new events are dropped and ErrSlowConsumer
// goes to the error handler.
//
// The server never sends a client the events it emitted itself. Emit
// therefore hands a successfully queued event to the client's own
// subscribers of the name directly, in order, through the same callback
// goroutine.
//
// # Concurrency
//
// Every exported method of Client, Events and Subscription is safe to call
// from any goroutine at any time, including from callbacks and after Close
// (calls that need the server then return ErrClosed).
//
// # Structure
//
// The client is built so that records, RPC and presence can be added next to
// Events as Client.Record, Client.RPC and Client.Presence, each in its own
// file, using three shared pieces:
//
//  1. The request tracker (internal/track): a request that wants an answer
//     takes an id from Client.tracker with a callback, tagged with the
//     connection it was written to. The reader goroutine resolves Acks and
//     Errors by id centrally (Client.onMessage); topic-specific results
//     (ReadResult, Response, QueryResult...) are resolved by the topic's own
//     handler calling tracker.Resolve. When a connection is lost, its
//     waiters are failed with ErrConnectionLost; on Close, all with
//     ErrClosed.
//  2. The topic dispatch table (Client.topics): one handler per protocol
//     topic receives every other inbound message on the reader goroutine,
//     copies what it needs into the callback queue (dispatcher) and returns.
//  3. The resubscribe hooks (Client.resubscribe): after each reconnect and
//     login, the hooks run in order with the new connection; Events renews
//     its names there in one message. Then Conn.Sync waits for the server
//     to have processed them, and the client reports Open.
//
// Below the client, internal/conn owns one live connection (handshake and
// login, a reader goroutine, a writer goroutine that drains the outbound
// queue with one write call per batch on raw TCP, and the pinger), and
// internal/transport moves whole messages over TCP or WebSocket. The
// supervisor goroutine of a Client waits for each connection to end and
// redials.
//
// # Invariants
//
//  1. At most one connection is live per client (Client.cur); subscriptions
//     and unsubscriptions are sent under Events.mu, so the server sees them
//     in the order the local table changed.
//  2. A name has a server subscription exactly while it has local
//     subscribers (modulo requests in flight).
//  3. Locks nest only as Events.mu -> Client.mu -> connection queue ->
//     dispatcher; the tracker's lock is a leaf, and no callback runs under
//     any lock.
//  4. User callbacks never run on the reader, writer or supervisor
//     goroutines.
package eddy
