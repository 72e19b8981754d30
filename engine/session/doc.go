// Package session runs one client connection: handshake, login, heartbeats,
// limits, and dispatch of every message to the tables.
//
// Manager implements netloop.Handler. For each connection it creates a
// Session that lives on the connection's loop goroutine: OnMessage verifies
// the buffer (codec/msg), checks the session's state and limits, and calls
// the table for the message's topic. Replies and deliveries go out through
// netloop.Conn.Send, which any goroutine may call.
//
// Goroutines:
//   - Loop goroutines run OnOpen/OnMessage/OnClose and every Session method
//     not documented otherwise; a Session's fields are owned by its loop.
//   - Logins whose Authenticator blocks run on a goroutine from the server's
//     spawner and hand their result back with Conn.Post.
//   - One sweeper goroutine (Manager.Run) sends heartbeats and enforces the
//     handshake, heartbeat and credential-expiry deadlines; it reads only
//     the atomic fields of a Session and acts through Conn.Send/CloseWith.
//
// Invariants:
//  1. Nothing but Handshake is accepted first, and nothing but Login, Ping,
//     Pong and Close before a login succeeds.
//  2. A session's subscriptions are recorded in the session and removed from
//     every table when the connection closes, whatever the reason.
//  3. Untrusted input never panics: a malformed message closes the
//     connection with CodeProtocolError; a bad request gets an Error reply.
package session
