// Package load is Eddy's load generator: the standard bench scenarios of
// DESIGN.md, run against an Eddy server (in-process or at an address) and
// against baselines, with the same connections, payloads and measurement
// code for every target. cmd/eddy-bench is a thin command over Run.
//
// # Pieces
//
//   - Scenario: one load shape (events-fanout now; records-fanout, rpc,
//     durable-writes and connections register the same way). Scenarios
//     drive Targets through the Client interface and return Figures and
//     the problems they found.
//   - Target and Client: a server and one connection to it. EddyTarget
//     speaks the wire protocol directly through EddyConn (codec/frame and
//     codec/msg over TCP, codec/ws as a WebSocket client); NATSTarget uses
//     nats.go against a nats-server subprocess (SpawnNATS). A scenario that
//     needs more than events asserts an optional interface on its Client,
//     and builds on EddyConn (Send, SendPayload, Call, OnMessage) for the
//     Eddy side.
//   - Histogram: log-linear latency buckets (<1% error), one per receiving
//     goroutine, merged after the run.
//   - Bench payloads: JSON of the requested size with the publisher, its
//     sequence number and a monotonic-clock stamp at fixed offsets
//     (NewPayload, Stamp, ReadPayload), so every receiver checks order and
//     loss per publisher and measures publish->delivery latency.
//   - Run: runs a Config (runs, medians, baseline comparison) and writes
//     one JSON line per result.
//
// # Flow control
//
// Publishers never flood the server: every ConfirmEvery-th publish asks
// for a confirmation (an Emit with an id, answered by an Ack; for NATS a
// PING/PONG round trip), at most MaxUnconfirmed are outstanding, and a
// publisher waits while it is more than Window/Pubs messages ahead of its
// slowest subscriber. At full speed the measured latency is therefore
// mostly queueing inside that window (Little's law); latency figures are
// meaningful at a fixed Rate below saturation.
//
// # Concurrency
//
// Run and Scenario.Run are called from one goroutine and start their own:
// one per publisher and one reader per Eddy connection (nats.go runs its
// own). Load-generator goroutines carry the pprof label side=client.
//
// # Invariants
//
//  1. After warm-up, the hot paths (stamping, framing and writing a
//     publish; reading, verifying and checking a delivery) allocate
//     nothing (TestPayloadStampAndRead, TestEddyConnReadPathDoesNotAllocate).
//  2. A run reports a problem, and Run returns ErrFailed, when nothing is
//     delivered, a delivery is lost, duplicated, reordered or malformed,
//     or a client sees an error (TestFanoutReportsBrokenDelivery).
//  3. Load only ever goes to the configured address; spawned servers bind
//     127.0.0.1.
package load
