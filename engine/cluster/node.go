package cluster

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Config connects a node to its cluster. Zero values mean the documented
// defaults (EnsureDefaults).
type Config struct {
	// URLs is one or more NATS server URLs, comma-separated.
	URLs string
	// Name prefixes every subject, so several clusters can share one NATS
	// system. Default "eddy".
	Name string
	// Node is this node's name, unique in the cluster. Default: random.
	Node string
	// Credentials is a NATS credentials file (JWT and NKey seed).
	Credentials string
	// User and Password, or Token, authenticate to NATS.
	User, Password, Token string
	// CA, Cert and Key configure TLS to NATS: CA verifies the servers,
	// Cert and Key are a client certificate. Any of them enables TLS.
	CA, Cert, Key string
	// Heartbeat is how often a node tells the others it is alive.
	// Default 1s.
	Heartbeat time.Duration
	// NodeTimeout is how long a node may stay silent before every other
	// node takes it for gone. Default 5s; at least twice Heartbeat.
	NodeTimeout time.Duration
	// Logger receives connection changes; default slog.Default().
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Name == "" {
		c.Name = "eddy"
	}
	if c.Node == "" {
		c.Node = RandomNodeName()
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.NodeTimeout <= 0 {
		c.NodeTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first invalid setting (after EnsureDefaults).
func (c *Config) Validate() error {
	if strings.TrimSpace(c.URLs) == "" {
		return errors.New("cluster.nats: no NATS URL")
	}
	if c.Name == "" || EncodeName(c.Name) != c.Name {
		return fmt.Errorf("cluster.name: %q may hold only letters, digits, '_', '-' and '/'", c.Name)
	}
	if EncodeName(c.Node) != c.Node {
		return fmt.Errorf("cluster.node: %q may hold only letters, digits, '_', '-' and '/'", c.Node)
	}
	if c.NodeTimeout < 2*c.Heartbeat {
		return fmt.Errorf("cluster.nodeTimeout: %s is less than twice cluster.heartbeat (%s)", c.NodeTimeout, c.Heartbeat)
	}
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("cluster.tls: cert and key must be set together")
	}
	if c.Token != "" && c.User != "" {
		return errors.New("cluster: set either user and password or token, not both")
	}
	return nil
}

// RandomNodeName returns a fresh node name.
func RandomNodeName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "n" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Stats is the node's view of its cluster, for /health and /metrics.
type Stats struct {
	Node        string   // this node's name
	Connected   bool     // connected to NATS now
	NATS        string   // the NATS server connected to ("" when not)
	Nodes       []string // other live nodes, sorted
	MsgsOut     uint64   // messages published to NATS
	MsgsIn      uint64   // messages received from NATS
	Reconnects  uint64   // NATS reconnections since start
	Resyncs     uint64   // directory snapshots fetched from other nodes
	NodesGone   uint64   // nodes taken for gone (timeout or goodbye)
	Dropped     uint64   // inbound messages dropped (slow consumer)
	PublishErrs uint64   // publishes that failed (disconnected)
}

// Node is this server's member of a cluster: one NATS connection shared by
// the directory, node-to-node messages and event routing.
//
// Concurrency: every method is safe from any goroutine.
type Node struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	prefix string // cluster name + "."
	inc    uint64 // incarnation: changes at every start

	dir      *Directory
	events   *eventRouter
	handlers [256]func(from string, payload []byte)

	msgsOut, msgsIn, reconnects, dropped, publishErrs atomic.Uint64

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// ErrNotConnected is returned by cross-node calls while this node has no
// NATS connection: they fail fast rather than wait.
var ErrNotConnected = errors.New("cluster: not connected to NATS")

// New returns a node for cfg. It does not connect until Start.
func New(cfg Config) (*Node, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var inc [8]byte
	_, _ = rand.Read(inc[:])
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Node), prefix: cfg.Name + ".", done: make(chan struct{})}
	for _, b := range inc {
		n.inc = n.inc<<8 | uint64(b)
	}
	n.dir = newDirectory(n)
	n.events = newEventRouter(n)
	return n, nil
}

// ID returns this node's name.
func (n *Node) ID() string { return n.cfg.Node }

// Directory returns the node's replicated directory.
func (n *Node) Directory() *Directory { return n.dir }

// Handle installs fn for node messages of kind sent with SendTo. Call it
// before Start. fn runs on the node's one inbound goroutine, in the order
// messages arrived; payload is valid only until fn returns.
func (n *Node) Handle(kind byte, fn func(from string, payload []byte)) { n.handlers[kind] = fn }

// Start connects to NATS. An unreachable NATS is not an error: the node
// keeps trying in the background and joins when NATS appears; Start fails
// only on settings NATS refuses outright (a credentials file that does
// not load, say).
func (n *Node) Start() error {
	opts := []nats.Option{
		nats.Name("eddy " + n.cfg.Node),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(-1), // fail fast while disconnected
		nats.NoEcho(),
		nats.Timeout(2 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			select {
			case <-n.done:
				return // Close: nats.go reports our own close as a disconnection
			default:
			}
			n.log.Warn("cluster: disconnected from NATS; cross-node traffic stops until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.reconnects.Add(1)
			n.log.Info("cluster: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
			n.dir.reconnected()
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			n.log.Info("cluster: connected to NATS", "server", nc.ConnectedUrlRedacted())
			n.dir.reconnected()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				n.dropped.Add(1)
				return
			}
			n.log.Warn("cluster: NATS error", "err", err)
		}),
	}
	switch {
	case n.cfg.Credentials != "":
		opts = append(opts, nats.UserCredentials(n.cfg.Credentials))
	case n.cfg.Token != "":
		opts = append(opts, nats.Token(n.cfg.Token))
	case n.cfg.User != "":
		opts = append(opts, nats.UserInfo(n.cfg.User, n.cfg.Password))
	}
	if n.cfg.CA != "" {
		opts = append(opts, nats.RootCAs(n.cfg.CA))
	}
	if n.cfg.Cert != "" {
		opts = append(opts, nats.ClientCert(n.cfg.Cert, n.cfg.Key))
	}
	nc, err := nats.Connect(n.cfg.URLs, opts...)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.nc = nc
	if _, err := nc.Subscribe(n.prefix+"node."+n.cfg.Node, n.onNodeMsg); err != nil {
		nc.Close()
		return fmt.Errorf("cluster: %w", err)
	}
	if err := n.dir.start(); err != nil {
		nc.Close()
		return err
	}
	n.events.start()
	if !nc.IsConnected() {
		n.log.Warn("cluster: NATS is not reachable yet; serving this node's clients alone and retrying", "nats", n.cfg.URLs)
	}
	return nil
}

// Close says goodbye to the other nodes and closes the connection.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		close(n.done)
		if n.nc == nil {
			return
		}
		n.dir.goodbye()
		_ = n.nc.FlushTimeout(time.Second)
		n.nc.Close()
		n.wg.Wait()
	})
}

// Connected reports whether the node has a NATS connection now.
func (n *Node) Connected() bool { return n.nc != nil && n.nc.IsConnected() }

// Stats returns the node's counts.
func (n *Node) Stats() Stats {
	s := Stats{Node: n.cfg.Node, Connected: n.Connected(), Nodes: n.dir.Nodes(),
		MsgsOut: n.msgsOut.Load(), MsgsIn: n.msgsIn.Load(), Reconnects: n.reconnects.Load(),
		Dropped: n.dropped.Load(), PublishErrs: n.publishErrs.Load()}
	s.Resyncs, s.NodesGone = n.dir.resyncs.Load(), n.dir.gone.Load()
	if s.Connected {
		s.NATS = n.nc.ConnectedUrlRedacted()
	}
	return s
}

// publish sends data on subject, counting it; it fails fast while
// disconnected.
func (n *Node) publish(subject string, data []byte) error {
	if n.nc == nil || !n.nc.IsConnected() {
		n.publishErrs.Add(1)
		return ErrNotConnected
	}
	if err := n.nc.Publish(subject, data); err != nil {
		n.publishErrs.Add(1)
		return fmt.Errorf("cluster: %w", err)
	}
	n.msgsOut.Add(1)
	return nil
}

// SendTo sends a message of kind to node; the node's handler for kind
// receives payload. Messages from one sender to one node arrive in the
// order sent, at most once.
func (n *Node) SendTo(node string, kind byte, payload []byte) error {
	bp := sendBufs.Get().(*[]byte)
	b := append((*bp)[:0], kind)
	b = appendString(b, n.cfg.Node)
	b = append(b, payload...)
	subj := n.prefix + "node." + node
	err := n.publish(subj, b)
	*bp = b
	if cap(b) <= 64<<10 {
		sendBufs.Put(bp)
	}
	return err
}

var sendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (n *Node) onNodeMsg(m *nats.Msg) {
	n.msgsIn.Add(1)
	d := m.Data
	if len(d) < 1 {
		return
	}
	kind := d[0]
	from, rest, ok := readString(d[1:])
	if !ok {
		return
	}
	if h := n.handlers[kind]; h != nil {
		h(from, rest)
	}
}

// appendString appends s with a one-uvarint length prefix.
func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, bool) {
	l, b, ok := readUvarint(b)
	if !ok || l > uint64(len(b)) {
		return "", nil, false
	}
	return string(b[:l]), b[l:], true
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func readUvarint(b []byte) (uint64, []byte, bool) {
	v, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, nil, false
	}
	return v, b[k:], true
}
