package engine

import (
	"github.com/eddy-realtime/eddy/engine/httpapi"
	"github.com/eddy-realtime/eddy/engine/metrics"
)

// health reports the server's state for GET /health: serving (200), or
// starting, draining or failed (503). Failed means a listener stopped
// accepting for good (client or HTTP): the server cannot take new clients.
func (s *Server) health() httpapi.Health {
	h := httpapi.Health{Status: "serving", Serving: true, Release: Release, Connections: s.sessions.Count(), Cluster: s.clusterHealth()}
	switch s.state.Load() {
	case stateStarting:
		h.Status, h.Serving = "starting", false
	case stateDraining:
		h.Status, h.Serving = "draining", false
	default:
		if s.loops != nil {
			if err := s.loops.Err(); err != nil {
				h.Status, h.Serving, h.Error = "failed", false, err.Error()
			}
		}
	}
	return h
}

// Metrics exposes the server's counters (for tests and embedding).
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }
