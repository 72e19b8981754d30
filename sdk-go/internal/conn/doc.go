// Package conn runs one live client connection to an Eddy server: the
// handshake and login, the outbound queue with its writer goroutine, the
// reader goroutine, and client heartbeats.
//
// A Conn is one incarnation of a connection; when it ends it is not
// restarted. The client package above it owns reconnection and starts a new
// Conn each time.
//
// # Goroutines
//
// Start launches a reader, a writer and (when heartbeats are on) a pinger.
// The reader answers server Pings, records Pongs, ends the Conn on a server
// Close and hands every other verified message to Config.OnMessage; the View
// it passes is valid only until OnMessage returns. The writer takes the
// whole queue at once and hands it to the transport, so many queued messages
// cost one write call on raw TCP. The pinger sends a Ping every heartbeat
// interval and ends the Conn when a Ping stays unanswered for two intervals.
//
// # Concurrency
//
// Send, SendWait, Close, Abort, Done, Err and Wait are safe from any
// goroutine, OnMessage included (Close and Wait excepted there: they wait
// for the reader, which is running OnMessage). Handshake runs before Start on
// the caller's goroutine.
//
// # Invariants
//
//  1. Messages reach the transport in the order Send/SendWait queued them.
//  2. Once Done is closed no more bytes are written, Err is set and stays.
//  3. Every frame in the queue is whole and no larger than MaxFrame.
package conn
