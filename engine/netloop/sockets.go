package netloop

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eddy-realtime/eddy/codec/ws"
)

// fdReserve is what SocketBudget leaves of the descriptor limit for
// everything that is not a client socket: listeners, store files, logs,
// outbound connections. At least 128, or an eighth of the limit.
func fdReserve(limit int) int { return max(128, limit/8) }

// FDLimit is the process's soft RLIMIT_NOFILE (0 when it cannot be read or
// is unlimited). Go raises the soft limit to the hard one at start-up, so
// this is the hard limit the process was started with.
func FDLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}

// SocketBudget is the default Options.MaxSockets: the descriptor limit less
// a reserve for the rest of the process, at least 16; 1<<20 when the limit
// is unknown.
func SocketBudget() int {
	limit := FDLimit()
	if limit == 0 {
		return 1 << 20
	}
	return max(16, limit-fdReserve(limit))
}

func (s *Server) maxSockets() int64 {
	if s.Options.MaxSockets > 0 {
		return int64(s.Options.MaxSockets)
	}
	s.budgetOnce.Do(func() { s.budget = int64(SocketBudget()) })
	return s.budget
}

// admit counts one accepted socket; false means the budget is spent and the
// socket must be refused (it is not counted then).
func (s *Server) admit() bool {
	if s.sockets.Add(1) > s.maxSockets() {
		s.sockets.Add(-1)
		if s.Stats != nil {
			s.Stats.SocketRefused()
		}
		return false
	}
	if s.Stats != nil {
		s.Stats.Socket(true)
	}
	return true
}

func (s *Server) release() {
	s.sockets.Add(-1)
	if s.Stats != nil {
		s.Stats.Socket(false)
	}
}

// Sockets is the number of sockets the server holds, counted from accept:
// every TCP and WebSocket connection (before its upgrade too) and every
// HTTP connection accepted through Listen.
func (s *Server) Sockets() int { return int(s.sockets.Load()) }

// AcceptFailed is called by a back-end when accepting failed (out of file
// descriptors, say) and it backs off before accepting again.
func (s *Server) AcceptFailed(err error) {
	if s.Stats != nil {
		s.Stats.AcceptError()
	}
}

// ListenerDown records that a listener stopped accepting for good while
// the server was not stopping; Err reports it from then on.
func (s *Server) ListenerDown(addr string, err error) {
	e := &ListenerError{Addr: addr, Err: err}
	s.down.CompareAndSwap(nil, e)
}

// Err is nil while every listener accepts connections, else the first
// listener that stopped and why.
func (s *Server) Err() error {
	if e := s.down.Load(); e != nil {
		return e
	}
	return nil
}

// ListenerError says which listener stopped accepting and why.
type ListenerError struct {
	Addr string
	Err  error
}

func (e *ListenerError) Error() string {
	return "listener " + e.Addr + " stopped accepting: " + e.Err.Error()
}
func (e *ListenerError) Unwrap() error { return e.Err }

// Backoff is the wait after the n-th consecutive accept error (n from 1):
// 5 ms doubling up to 1 s, as net/http does.
func Backoff(n int) time.Duration {
	d := 5 * time.Millisecond
	for i := 1; i < n && d < time.Second; i++ {
		d *= 2
	}
	return min(d, time.Second)
}

// Listen wraps an HTTP listener so its connections count against the
// socket budget: past it, a connection gets a 503 response and is closed
// at once. An accept error that is not temporary marks the listener down
// (see Err).
func (s *Server) Listen(ln net.Listener) net.Listener { return &budgetListener{Listener: ln, srv: s} }

type budgetListener struct {
	net.Listener
	srv    *Server
	closed atomic.Bool
}

var refused503 = ws.AppendHTTPError(nil, 503, "the server has reached its connection limit")

func (l *budgetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				l.srv.AcceptFailed(err) // net/http backs off and calls again
			} else if !l.closed.Load() {
				l.srv.ListenerDown(l.Addr().String(), err)
			}
			return nil, err
		}
		if !l.srv.admit() {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(refused503)
			_ = c.Close()
			continue
		}
		return &budgetConn{Conn: c, srv: l.srv}, nil
	}
}

func (l *budgetListener) Close() error {
	l.closed.Store(true)
	return l.Listener.Close()
}

type budgetConn struct {
	net.Conn
	srv  *Server
	once sync.Once
}

func (c *budgetConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.srv.release)
	return err
}
