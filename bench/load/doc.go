// Package load is Eddy's load generator: the standard bench scenarios of
// DESIGN.md, run against an Eddy server (in-process or at an address) and
// against baselines, with the same connections, payloads and measurement
// code for every target. cmd/eddy-bench is a thin command over Run.
//
// # Pieces
//
//   - Scenario: one load shape: events-fanout and records-fanout (fanout.go,
//     records.go: publishers or versioned record writers, subscribers that
//     check order, loss and latency), rpc and durable-writes (calls.go,
//     rpc.go, durable.go: requests with a window in flight, each answer
//     matched once), connections (connections.go: idle clients, connects/s
//     and server memory per connection), cluster-events-fanout (cluster.go:
//     events-fanout over 3 Eddy nodes on an in-process 3-server NATS
//     cluster, then through NATS alone, via a ClusterTarget that spreads
//     subscribers over the nodes). Scenarios drive Targets through
//     the Client interface and return Figures and the problems they found;
//     Defaults gives each scenario's own parameters.
//   - Target and Client: a server and one connection to it. EddyTarget
//     speaks the wire protocol directly through EddyConn (codec/frame and
//     codec/msg over TCP, codec/ws as a WebSocket client); NATSTarget uses
//     nats.go against a nats-server subprocess (SpawnNATS). A scenario that
//     needs more than events asserts an optional interface on its Client
//     (RecordClient, RPCClient, DurableClient) or Target (IdleDialer), and
//     builds on EddyConn (Send, SendPayload, Call, OnMessage) for the Eddy
//     side; a target without it returns ErrUnsupported and Run skips that
//     baseline. Senders encode a message once and refill its data and id
//     or version in place for every send (msgTemplate).
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
// for a confirmation (an Emit with an id, answered by an Ack; a record
// write with WantAck, answered by a WriteAck; for NATS a PING/PONG round
// trip), at most MaxUnconfirmed are outstanding, and a publisher waits
// while it is more than Window/Pubs messages ahead of its slowest
// subscriber. Callers (rpc, durable-writes) keep at most Window/Pubs
// requests unanswered each. At full speed the measured latency is
// therefore mostly queueing inside that window (Little's law); latency
// figures are meaningful at a fixed Rate below saturation.
//
// # Concurrency
//
// Run and Scenario.Run are called from one goroutine and start their own:
// one per publisher or caller, one reader per Eddy connection (nats.go
// runs its own), a bounded pool of dialers for connections (idle
// connections have no goroutine). Load-generator goroutines carry the
// pprof label side=client.
//
// # Invariants
//
//  1. After warm-up, the hot paths (stamping, framing and writing a
//     publish, a record write, an RPC request or answer, a durable write;
//     reading, verifying and checking a delivery or a response) allocate
//     nothing (TestPayloadStampAndRead, TestEddyConnReadPathDoesNotAllocate,
//     TestScenarioHotPathsDoNotAllocate).
//  2. A run reports a problem, and Run returns ErrFailed, when nothing is
//     delivered or answered (at all, or in the measured window), a
//     delivery is lost, duplicated, reordered or malformed, a record
//     version differs from the one written, a request or write is
//     unanswered, answered twice, out of order (durable-writes) or with
//     the wrong data, a connection fails or stops being served, or a
//     client sees an error (TestFanoutReportsBrokenDelivery,
//     TestRecordsFanoutReportsBrokenDelivery,
//     TestCallScenariosReportBrokenAnswers, TestConnectionsReportsFailures).
//  3. Load only ever goes to the configured address; spawned servers bind
//     127.0.0.1.
package load
