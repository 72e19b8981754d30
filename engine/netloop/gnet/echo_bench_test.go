package gnet

import (
	"testing"

	"github.com/eddy-realtime/eddy/engine/netloop"
	"github.com/eddy-realtime/eddy/engine/netloop/netlooptest"
)

func BenchmarkEcho(b *testing.B) {
	netlooptest.BenchmarkEcho(b, func(srv *netloop.Server) (netloop.Engine, error) { return Start(srv, Options{}) })
}
