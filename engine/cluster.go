package engine

import (
	"time"
	"unsafe"

	"github.com/eddy-realtime/eddy/engine/cluster"
	"github.com/eddy-realtime/eddy/engine/event"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// ClusterOptions join this node to other Eddy nodes over NATS
// (docs/cluster.md). With NATS empty the node runs alone.
type ClusterOptions struct {
	// NATS is one or more NATS server URLs, comma-separated. Default "":
	// no cluster.
	NATS string `yaml:"nats"`
	// Name prefixes every NATS subject, so several Eddy clusters can share
	// one NATS system. Default "eddy".
	Name string `yaml:"name"`
	// Node is this node's name, unique in the cluster. Default: random at
	// every start.
	Node string `yaml:"node"`
	// Credentials is a NATS credentials file (user JWT and NKey seed).
	Credentials string `yaml:"credentials"`
	// User and Password, or Token, authenticate to NATS.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
	// TLS to NATS: CA verifies the servers; Cert and Key are a client
	// certificate. Any of them enables TLS.
	TLS ClusterTLS `yaml:"tls"`
	// Heartbeat is how often this node tells the others it is alive.
	// Default 1s.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// NodeTimeout is how long a node may stay silent before the others
	// take it for gone: its users go offline, its providers are dropped.
	// Default 5s.
	NodeTimeout time.Duration `yaml:"nodeTimeout"`
}

// ClusterTLS configures TLS to NATS.
type ClusterTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

func (o *ClusterOptions) config() cluster.Config {
	return cluster.Config{URLs: o.NATS, Name: o.Name, Node: o.Node, Credentials: o.Credentials,
		User: o.User, Password: o.Password, Token: o.Token, CA: o.TLS.CA, Cert: o.TLS.Cert, Key: o.TLS.Key,
		Heartbeat: o.Heartbeat, NodeTimeout: o.NodeTimeout}
}

func (o *ClusterOptions) ensureDefaults() {
	if o.NATS == "" {
		return
	}
	c := o.config()
	c.EnsureDefaults()
	o.Name, o.Node, o.Heartbeat, o.NodeTimeout = c.Name, c.Node, c.Heartbeat, c.NodeTimeout
}

func (o *ClusterOptions) validate() error {
	if o.NATS == "" {
		return nil
	}
	c := o.config()
	return c.Validate()
}

// eventBus routes the event table's interest and emits through the
// cluster node.
type eventBus struct{ n *cluster.Node }

func (b eventBus) Interest(name string, on bool) { b.n.EventInterest(name, on) }

// Forward publishes at most once: while NATS is away the event reaches
// this node's subscribers only (counted in the node's publish errors).
func (b eventBus) Forward(name, payload []byte) { _ = b.n.PublishEvent(name, payload) }

var _ event.Bus = eventBus{}

// Directory entry kinds, and node message kinds, in one byte each:
//
//	'p' presence: a user with connections on the node
//	'r' rpc: a provider (cluster_rpc.go); messages 'q' and 'a'
//	'l' and 'n' event listening: listeners and subscribed names; messages 'L' and 'F'
//	'm' and 'o' record listening, the same; messages 'M' and 'G'
const kindPresence = 'p'

// presenceBus publishes this node's users in the directory.
type presenceBus struct{ d *cluster.Directory }

func (b presenceBus) Local(user string, on bool) {
	if on {
		b.d.Set(kindPresence, user)
	} else {
		b.d.Delete(kindPresence, user)
	}
}

// joinCluster wires the tables to a cluster node; it runs in New, before
// any table is used.
func (s *Server) joinCluster() error {
	cfg := s.opts.Cluster.config()
	cfg.Logger = s.log
	n, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	s.cluster = n
	s.events.SetBus(eventBus{n})
	n.OnEvent(func(name string, frame []byte) {
		// Publish only reads the name: no copy per inbound event.
		d := s.events.Publish(unsafe.Slice(unsafe.StringData(name), len(name)), frame, nil)
		s.metrics.Deliveries(fb.TopicEvent, d)
	})
	dir := n.Directory()
	s.presence.SetBus(presenceBus{dir})
	dir.OnEntry(kindPresence, func(_, user string, add bool) { s.presence.Remote(user, add) })
	newClusterRPC(s, n)
	s.clusterListens = []*clusterListen{
		newClusterListen(s, n, s.listen, s.events, "lnLF"),
		newClusterListen(s, n, s.recordListen, s.records, "moMG"),
	}
	s.metrics.GaugeFunc("eddy_cluster_connected", "1 while this node is connected to NATS.", func() float64 {
		if n.Connected() {
			return 1
		}
		return 0
	})
	s.metrics.GaugeFunc("eddy_cluster_nodes", "Other live nodes this node sees.", func() float64 { return float64(len(n.Directory().Nodes())) })
	s.metrics.GaugeFunc("eddy_cluster_event_subscriptions", "Event names this node follows on NATS.", func() float64 { return float64(n.EventSubscriptions()) })
	counter := func(name, help string, f func(cluster.Stats) uint64) {
		s.metrics.CounterFunc(name, help, func() float64 { return float64(f(n.Stats())) })
	}
	counter("eddy_cluster_messages_out_total", "Messages this node published to NATS.", func(st cluster.Stats) uint64 { return st.MsgsOut })
	counter("eddy_cluster_messages_in_total", "Messages this node received from NATS.", func(st cluster.Stats) uint64 { return st.MsgsIn })
	counter("eddy_cluster_reconnects_total", "NATS reconnections.", func(st cluster.Stats) uint64 { return st.Reconnects })
	counter("eddy_cluster_publish_errors_total", "Cross-node messages not sent because NATS was away.", func(st cluster.Stats) uint64 { return st.PublishErrs })
	counter("eddy_cluster_dropped_total", "Inbound cross-node messages dropped because this node fell behind.", func(st cluster.Stats) uint64 { return st.Dropped })
	counter("eddy_cluster_nodes_gone_total", "Nodes taken for gone (timeout or goodbye).", func(st cluster.Stats) uint64 { return st.NodesGone })
	return nil
}

// Cluster returns the node's cluster member (nil when not clustered).
func (s *Server) Cluster() *cluster.Node { return s.cluster }

// clusterHealth is the cluster part of GET /health.
func (s *Server) clusterHealth() map[string]any {
	if s.cluster == nil {
		return nil
	}
	st := s.cluster.Stats()
	return map[string]any{
		"node": st.Node, "connected": st.Connected, "nats": st.NATS, "nodes": st.Nodes,
		"messagesOut": st.MsgsOut, "messagesIn": st.MsgsIn, "reconnects": st.Reconnects,
	}
}
