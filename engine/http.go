package engine

import (
	"encoding/json"
	"net/http"
)

// httpHandler serves the HTTP endpoints.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	return mux
}

// health answers 200 while serving and 503 while starting or draining, with
// a JSON body describing the state.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	state, code := "serving", http.StatusOK
	switch s.state.Load() {
	case stateStarting:
		state, code = "starting", http.StatusServiceUnavailable
	case stateDraining:
		state, code = "draining", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status":      state,
		"release":     Release,
		"connections": s.sessions.Count(),
	})
}
