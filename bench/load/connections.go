package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/codec/ws"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func init() { Register(connections{}) }

// Connections defaults (docs/performance.md).
const (
	// DefaultConns is the connections scenario's count when Params.Conns
	// is 0, lowered to what the file-descriptor limit allows.
	DefaultConns = 20000
	// defaultDialConcurrency is the connections being opened at once when
	// Params.DialConcurrency is 0.
	defaultDialConcurrency = 128
	// fdReserve is left to everything else the process opens.
	fdReserve = 256
	// idleReadBuffer is an idle connection's read buffer (it grows if a
	// message needs more).
	idleReadBuffer = 512
	// maxDialErrors stops the dialing early: past it the run has failed.
	maxDialErrors = 100
	// checkTimeout bounds the ping round trip that proves a connection alive.
	checkTimeout = 10 * time.Second
)

// IdleDialer is a Target that opens idle connections: handshake and login
// done, then nothing, with no goroutine and a small buffer per connection
// on the client side (connections).
type IdleDialer interface {
	DialIdle(ctx context.Context) (IdleConn, error)
}

// IdleConn is one idle connection. Its methods belong to one goroutine.
type IdleConn interface {
	// Check proves the server still serves the connection: a ping round
	// trip within timeout.
	Check(timeout time.Duration) error
	// Close closes the socket with a reset (no TIME_WAIT left behind, so
	// the next run finds free ports).
	Close() error
}

// connections is DESIGN.md's connections scenario: Conns idle clients
// (WebSocket by default) open, DialConcurrency at a time, as fast as the
// server completes them; they stay idle for Duration, then each proves it
// is still served with a ping round trip, and all close.
//
// Figures: rate "connects" (connections whose upgrade, handshake and
// login completed, per second of the dialing phase); latency of one
// connect; counts "conns", "connected", "dial_errors", "dropped"; values
// "rss_per_conn_bytes" (the server subprocess's resident memory, VmRSS in
// /proc/<pid>/status, after the clients connected and idled minus before,
// per connection), "rss_before_mib" and "rss_after_mib". With an
// in-process server (-spawn) the server's RSS cannot be told from the load
// generator's, so the values are "heap_per_conn_bytes", the Go heap and
// stacks in use after a GC, which include the client side of each
// connection too. A server at an address reports no memory.
//
// Conns 0 is DefaultConns, lowered to what RLIMIT_NOFILE allows (raised to
// its hard limit first): a client and, in-process, a server descriptor per
// connection. An explicit Conns above the limit is an error.
type connections struct{}

func (connections) Name() string     { return "connections" }
func (connections) Headline() string { return "connects" }

func (connections) defaults() (Params, string) {
	p := DefaultParams()
	p.Pubs, p.Subs = 1, 0
	p.Warmup = 0
	p.DialConcurrency = defaultDialConcurrency
	return p, "ws"
}

// Run implements Scenario.
func (connections) Run(ctx context.Context, target Target, p Params) (Figures, []string, error) {
	if err := p.Validate(); err != nil {
		return Figures{}, nil, err
	}
	dialer, ok := target.(IdleDialer)
	if !ok {
		return Figures{}, nil, fmt.Errorf("%w: it cannot open idle connections", ErrUnsupported)
	}
	n, err := connCount(p.Conns, target)
	if err != nil {
		return Figures{}, nil, err
	}
	conc := p.DialConcurrency
	if conc <= 0 {
		conc = defaultDialConcurrency
	}
	conc = min(conc, n)
	mem0, memKind := serverMemory(target)

	// Dial: conc workers take the next index until n are open.
	conns := make([]IdleConn, n)
	hists := make([]Histogram, conc)
	var next, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && failed.Load() < maxDialErrors {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				start := Now()
				c, err := dialer.DialIdle(ctx)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				hists[w].Record(time.Duration(Now() - start))
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var hist Histogram
	for i := range hists {
		hist.Merge(&hists[i])
	}
	connected := hist.Count()
	defer closeIdle(conns, conc)

	var problems []string
	if failed.Load() > 0 {
		problems = append(problems, fmt.Sprintf("%d connections failed, the first with: %v", failed.Load(), *firstErr.Load()))
	}
	if connected == 0 {
		problems = append(problems, "no connection was established")
	}

	// Idle, then read the memory while every connection is open.
	if err := sleepCtx(ctx, p.Duration); err != nil {
		return Figures{}, nil, err
	}
	mem1, _ := serverMemory(target)

	// Every connection must still be served.
	var dropped atomic.Int64
	var firstDrop atomic.Pointer[error]
	next.Store(0)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if conns[i] == nil {
					continue
				}
				if err := conns[i].Check(checkTimeout); err != nil {
					dropped.Add(1)
					firstDrop.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if d := dropped.Load(); d > 0 {
		problems = append(problems, fmt.Sprintf("%d idle connections no longer served, the first: %v", d, *firstDrop.Load()))
	}

	f := Figures{
		Elapsed: round3(elapsed.Seconds()),
		Rates:   map[string]float64{"connects": round1(float64(connected) / elapsed.Seconds())},
		Latency: hist.Summary(),
		Counts: map[string]uint64{"conns": uint64(n), "connected": connected,
			"dial_errors": uint64(failed.Load()), "dropped": uint64(dropped.Load())},
	}
	if memKind != "" && mem0 > 0 && mem1 > 0 && connected > 0 {
		per := (float64(mem1) - float64(mem0)) / float64(connected)
		f.Values = map[string]float64{memKind + "_per_conn_bytes": round1(per),
			memKind + "_before_mib": round1(float64(mem0) / (1 << 20)), memKind + "_after_mib": round1(float64(mem1) / (1 << 20))}
	}
	return f, problems, ctx.Err()
}

// connCount resolves Params.Conns against the file-descriptor limit.
func connCount(want int, target Target) (int, error) {
	limit := RaiseFDLimit()
	avail := int(limit) - fdReserve
	if t, ok := target.(*EddyTarget); ok && t.InProcess {
		avail /= 2 // the server's descriptors count against the same limit
	}
	if avail < 1 {
		return 0, fmt.Errorf("load: the file-descriptor limit (%d) leaves no room for connections", limit)
	}
	if want == 0 {
		return min(DefaultConns, avail), nil
	}
	if want > avail {
		return 0, fmt.Errorf("load: conns %d: the file-descriptor limit %d allows %d here", want, limit, avail)
	}
	return want, nil
}

// RaiseFDLimit raises this process's RLIMIT_NOFILE soft limit to its hard
// limit and returns the soft limit in force. Setting it explicitly also
// makes subprocesses started afterwards (servers under test) inherit it.
func RaiseFDLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
	}
	// Set even when unchanged: Go restores the limit it found at start in
	// the subprocesses it spawns unless the program set one itself.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// serverMemory returns the server's memory in bytes and what it is: "rss"
// of a subprocess, "heap" (Go heap and stacks in use after a GC) of this
// process for an in-process server, or "" when unknown.
func serverMemory(t Target) (uint64, string) {
	pid := 0
	switch t := t.(type) {
	case *EddyTarget:
		if t.InProcess {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc + ms.StackInuse, "heap"
		}
		pid = t.PID
	case *NATSTarget:
		pid = t.PID
	}
	if pid == 0 {
		return 0, ""
	}
	rss, err := ProcessRSS(pid)
	if err != nil {
		return 0, ""
	}
	return rss, "rss"
}

// ProcessRSS returns the resident memory of process pid (VmRSS in
// /proc/<pid>/status) in bytes.
func ProcessRSS(pid int) (uint64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 2 && fields[1] == "kB" {
				kb, err := strconv.ParseUint(fields[0], 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("load: no VmRSS in /proc/%d/status", pid)
}

func closeIdle(conns []IdleConn, conc int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(conns)) {
					return
				}
				if conns[i] != nil {
					_ = conns[i].Close()
				}
			}
		}()
	}
	wg.Wait()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// resetOnClose makes Close send a reset instead of a FIN.
func resetOnClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// eddyIdle is an idle Eddy connection: an EddyConn whose reader goroutine
// never started.
type eddyIdle struct{ c *EddyConn }

var _ IdleDialer = (*EddyTarget)(nil)

// idlePingID is the id of the Ping an idle connection's Check sends.
const idlePingID = 7

// DialIdle implements IdleDialer.
func (t *EddyTarget) DialIdle(ctx context.Context) (IdleConn, error) {
	c, err := dialEddy(ctx, t.Addr, EddyOptions{Transport: t.Trans, Timeout: t.DialLimit, AuthData: t.AuthData, ReadBuffer: idleReadBuffer, Dialer: idleDialer(t.Addr, t.DialLimit)})
	if err != nil {
		return nil, err
	}
	return &eddyIdle{c: c}, nil
}

func (i *eddyIdle) Check(timeout time.Duration) error {
	c := i.c
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = c.conn.SetDeadline(time.Time{}) }()
	if err := c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: idlePingID}); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return err
	}
	for {
		v, err := c.nextView("idle connection")
		if err != nil {
			return err
		}
		switch {
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPong && v.Id() == idlePingID:
			return nil
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPing:
			_ = c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPong, ID: v.Id()})
			if err := c.Flush(); err != nil {
				return err
			}
		case v.Topic() == fb.TopicConnection && v.Action() == fb.ActionClose:
			return fmt.Errorf("load: idle connection closed by the server: code %d: %s", v.Code(), v.Reason())
		default:
			return fmt.Errorf("load: idle connection got %s/%s", topicName(v.Topic()), actionName(v.Action()))
		}
	}
}

func (i *eddyIdle) Close() error {
	i.c.closing.Store(true)
	resetOnClose(i.c.conn)
	return i.c.conn.Close()
}

// natsIdle is an idle NATS connection speaking the client protocol
// directly (INFO, CONNECT, PING/PONG), over TCP or inside WebSocket
// messages.
type natsIdle struct {
	conn   net.Conn
	ws     bool
	parser ws.Parser
	rbuf   []byte
	r, w   int
	text   []byte // protocol text received and not yet consumed
}

var _ IdleDialer = (*NATSTarget)(nil)

// natsConnect is the CONNECT an idle client sends, then a PING whose PONG
// says the server has processed it.
const natsConnect = `CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":"eddy-bench","lang":"go","version":"0","protocol":1}` + "\r\nPING\r\n"

// DialIdle implements IdleDialer.
func (t *NATSTarget) DialIdle(ctx context.Context) (IdleConn, error) {
	addr, useWS := strings.TrimPrefix(t.URL, "nats://"), t.Trans == "ws"
	if useWS {
		addr = t.WSAddr
	}
	nc, err := idleDialer(addr, 10*time.Second).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("load: dial %s: %w", addr, err)
	}
	c := &natsIdle{conn: nc, ws: useWS, rbuf: make([]byte, 2048)}
	if err := c.open(addr); err != nil {
		_ = nc.Close()
		return nil, err
	}
	// Keep little per idle connection: a small read buffer (with whatever
	// is left unread) and no text.
	rest := c.rbuf[c.r:c.w]
	c.rbuf = make([]byte, max(idleReadBuffer, len(rest)))
	c.r, c.w = 0, copy(c.rbuf, rest)
	if len(c.text) == 0 {
		c.text = nil
	}
	return c, nil
}

func (c *natsIdle) open(addr string) error {
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.conn.SetDeadline(time.Time{}) }()
	if c.ws {
		n, err := wsUpgrade(c.conn, addr, func() []byte { return c.rbuf[c.r:c.w] }, c.fill)
		if err != nil {
			return fmt.Errorf("load: nats websocket upgrade: %w", err)
		}
		c.r += n
		c.parser = ws.Parser{Client: true, MaxMessage: 1 << 20}
	}
	line, err := c.line()
	if err != nil {
		return fmt.Errorf("load: nats handshake: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("INFO ")) {
		return fmt.Errorf("load: nats handshake: got %q, want INFO", line)
	}
	return c.ping(natsConnect)
}

func (c *natsIdle) Check(timeout time.Duration) error {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = c.conn.SetDeadline(time.Time{}) }()
	return c.ping("PING\r\n")
}

// ping sends text, which ends with a PING, and waits for the PONG.
func (c *natsIdle) ping(text string) error {
	if err := c.write([]byte(text)); err != nil {
		return err
	}
	for {
		line, err := c.line()
		if err != nil {
			return fmt.Errorf("load: nats idle connection: %w", err)
		}
		switch {
		case string(line) == "PONG":
			return nil
		case string(line) == "PING":
			if err := c.write([]byte("PONG\r\n")); err != nil {
				return err
			}
		case string(line) == "+OK" || bytes.HasPrefix(line, []byte("INFO ")):
		default:
			return fmt.Errorf("load: nats idle connection got %q", line)
		}
	}
}

func (c *natsIdle) write(p []byte) error {
	if c.ws {
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		p = ws.AppendFrame(nil, ws.OpBinary, p, false, &key)
	}
	if _, err := c.conn.Write(p); err != nil {
		return fmt.Errorf("load: nats write: %w", err)
	}
	return nil
}

// line returns the next protocol line without its CRLF (valid until the
// next call).
func (c *natsIdle) line() ([]byte, error) {
	for {
		if i := bytes.Index(c.text, []byte("\r\n")); i >= 0 {
			line := c.text[:i]
			c.text = c.text[i+2:]
			return line, nil
		}
		if len(c.text) > 64<<10 {
			return nil, errors.New("load: nats line too long")
		}
		if !c.ws {
			if err := c.fill(); err != nil {
				return nil, err
			}
			c.text = append(c.text, c.rbuf[c.r:c.w]...)
			c.r = c.w
			continue
		}
		f, n, err := c.parser.Next(c.rbuf[c.r:c.w])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if err := c.fill(); err != nil {
				return nil, err
			}
			continue
		}
		c.r += n
		switch f.Op {
		case ws.OpBinary, ws.OpText:
			c.text = append(c.text, f.Payload...)
		case ws.OpPing:
			key := [4]byte{0x12, 0x34, 0x56, 0x78}
			if _, err := c.conn.Write(ws.AppendFrame(nil, ws.OpPong, f.Payload, false, &key)); err != nil {
				return nil, err
			}
		case ws.OpClose:
			return nil, fmt.Errorf("websocket closed by the server: %d %s", f.CloseCode, f.CloseReason)
		}
	}
}

// fill reads more bytes into rbuf, compacting or growing it as needed.
func (c *natsIdle) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.r > 0 {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.rbuf) {
		grown := make([]byte, 2*len(c.rbuf))
		copy(grown, c.rbuf[:c.w])
		c.rbuf = grown
	}
	n, err := c.conn.Read(c.rbuf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("load: no progress")
	}
	return err
}

func (c *natsIdle) Close() error {
	resetOnClose(c.conn)
	return c.conn.Close()
}
