package netpoll

import (
	"testing"

	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/netloop/netlooptest"
)

func TestConformance(t *testing.T) {
	netlooptest.Run(t, func(srv *netloop.Server) (netloop.Engine, error) { return Start(srv, Options{}) })
}
