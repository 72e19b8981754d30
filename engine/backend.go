package engine

import (
	"crypto/tls"
	"fmt"

	"github.com/eddy-realtime/eddy/engine/netloop"
	gnetloop "github.com/eddy-realtime/eddy/engine/netloop/gnet"
	netpollloop "github.com/eddy-realtime/eddy/engine/netloop/netpoll"
	"github.com/eddy-realtime/eddy/engine/netloop/stdnet"
)

// The back-ends are interchangeable behind netloop.Engine.
var (
	_ netloop.Engine = (*gnetloop.Engine)(nil)
	_ netloop.Engine = (*netpollloop.Engine)(nil)
	_ netloop.Engine = (*stdnet.Engine)(nil)
)

// startLoops binds the client listeners on the back-end net.backend names.
func (s *Server) startLoops(nsrv *netloop.Server) (netloop.Engine, error) {
	switch s.opts.Net.Backend {
	case "netpoll":
		return netpollloop.Start(nsrv, netpollloop.Options{Loops: s.opts.Net.Loops})
	case "stdnet":
		var cfg *tls.Config
		if s.opts.Net.TLS.Cert != "" {
			cert, err := tls.LoadX509KeyPair(s.opts.Net.TLS.Cert, s.opts.Net.TLS.Key)
			if err != nil {
				return nil, fmt.Errorf("net.tls: %w", err)
			}
			cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		return stdnet.Start(nsrv, stdnet.Options{TLS: cfg})
	default:
		return gnetloop.Start(nsrv, gnetloop.Options{Loops: s.opts.Net.Loops, Logger: s.log})
	}
}
