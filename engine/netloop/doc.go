// Package netloop is the boundary between the network back-ends (event
// loops) and the session layer.
//
// A back-end (netloop/gnet, netloop/netpoll, netloop/stdnet; chosen by the
// engine's net.backend) owns sockets and event loops; netloop/netlooptest is
// the conformance suite each one passes. For every accepted socket it creates a *Conn with NewConn and
// then, on that connection's loop goroutine only, calls:
//
//	Feed(buf)  with all inbound bytes buffered so far; it returns how many it
//	           consumed (whole frames) and the back-end keeps the rest;
//	Flush()    after Feed and whenever Transport.Wake brings it back to the loop;
//	Closed(err) once, when the socket is gone.
//
// Conn turns bytes into messages: raw TCP frames (codec/frame) or an RFC 6455
// WebSocket (codec/ws: upgrade, fragments, ping/pong, close, deflate), and
// hands each message payload to the Handler.
//
// A connection of Kind HTTP has no socket: engine/httpapi makes one per HTTP
// request, feeds it TCP-framed messages and plays the back-end itself, with
// the request's goroutine as the loop, so a backend's HTTP call runs through
// exactly the session code a connected client does.
//
// Outbound, any goroutine may call Conn.Send, Conn.Post and Conn.Close. Sends
// append to one mutex-protected byte queue per connection; the first append
// after a flush asks the back-end to Wake the connection's loop, which then
// flushes everything queued since with a single write. Fan-out to many
// connections therefore costs one memcpy per subscriber and one write per
// connection per loop wake-up, however many messages arrived meanwhile.
//
// Concurrency contract:
//   - Handler methods run on the connection's loop goroutine, one at a time
//     per connection.
//   - Send, SendMany, Post, Close, Kind, RemoteAddr, Header and Context are safe from any goroutine.
//   - Feed, Flush and Closed are for the back-end, on the loop goroutine.
//
// Invariants:
//  1. Messages sent to one Conn leave in the order Send was called.
//  2. The outbound queue never exceeds Options.MaxQueue bytes: past it the
//     connection is closed as a slow consumer (or the message dropped, per
//     Options.SlowPolicy) and the queue is released.
//  3. After Closed, Send and Post are no-ops and Handler.OnClose has run exactly once.
package netloop
