// Package metrics counts what an Eddy server does and serves the counts in
// the Prometheus text format.
//
// The engine makes one Metrics per server (there are no globals) and hands
// it to the parts that count: it is the session layer's session.Metrics,
// the network loops' netloop.Stats, and the HTTP API's counter. Scrapes go
// through Handler, which reads every counter and asks the store for its
// statistics at that moment.
//
// Cost: every method called per message (MessageIn, Deliveries, Denied,
// Received, Flushed) is one atomic add into a fixed array indexed by topic
// and action; labels are attached only at scrape time, so the hot path
// resolves no label, takes no lock and allocates nothing.
//
// Concurrency: every method is safe from any goroutine.
//
// Invariants:
//  1. Counters never decrease; the connection gauges go up on open and down
//     on close, once each per connection.
//  2. A scrape never blocks a counting goroutine: Collect only loads atomics.
//  3. Topic and action values outside the schema are counted under
//     topic or action "unknown" instead of being lost.
package metrics
