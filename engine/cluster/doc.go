// Package cluster joins Eddy nodes into one server over NATS.
//
// A Node holds one NATS connection shared by everything that crosses
// nodes. The tables never see NATS: they call small hooks (an event name
// gained or lost its local subscribers, a provider registered) that the
// engine wires to a Node, and a single node runs the same table code with
// no hooks set.
//
// Subjects, all under the cluster name (default "eddy"):
//
//	<name>.ev.<token>     events of one name, token = EncodeName(name);
//	                      a node subscribes only while it has local subscribers
//	<name>.dir            directory changes and heartbeats of every node
//	<name>.sync.<node>    snapshot requests to one node's directory
//	<name>.syncr.<node>   snapshot replies to one node
//	<name>.node.<node>    messages addressed to one node (RPC, listening)
//
// Liveness: every node heartbeats on <name>.dir every Config.Heartbeat; a
// node silent for Config.NodeTimeout is gone for every other, which then
// drops its entries (its users go offline, its providers are removed).
//
// Delivery is NATS core: at most once, in order per publisher and
// subject. The directory repairs what a disconnection lost by numbering
// changes and fetching a snapshot on a gap; events are not repaired.
//
// Concurrency: every exported method is safe from any goroutine unless
// its comment says otherwise (handlers are installed before Start).
package cluster
