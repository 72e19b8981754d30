package session

import (
	"context"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Run is the sweeper: until ctx ends it pings clients every Heartbeat and
// closes connections past their handshake, heartbeat or credential
// deadline. Run it on its own goroutine.
func (m *Manager) Run(ctx context.Context) {
	period := m.opts.Heartbeat / 4
	if hs := m.opts.HandshakeTimeout / 4; hs < period {
		period = hs
	}
	period = max(period, 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	ping := msg.Append(nil, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing})
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.each(func(s *Session) { m.sweep(s, now, ping) })
		}
	}
}

func (m *Manager) sweep(s *Session, now time.Time, ping []byte) {
	if s.active.Swap(false) {
		s.lastActive = now
	}
	if s.state.Load() != stateOpen {
		if now.Sub(s.openedAt) > m.opts.HandshakeTimeout {
			s.c.CloseWith(protocol.CodeHandshakeTimeout, "no handshake and login within "+m.opts.HandshakeTimeout.String())
		}
		return
	}
	if exp := s.expiresAt.Load(); exp != 0 && now.UnixNano() > exp {
		s.c.CloseWith(protocol.CodeTokenExpired, "credentials expired")
		return
	}
	if now.Sub(s.lastActive) > m.opts.HeartbeatTimeout {
		s.c.CloseWith(protocol.CodeHeartbeatTimeout, "nothing received for "+m.opts.HeartbeatTimeout.String())
		return
	}
	if now.Sub(s.lastPing) >= m.opts.Heartbeat {
		s.lastPing = now
		_ = s.c.Send(ping)
	}
}
