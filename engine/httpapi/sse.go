package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eddy-realtime/eddy/engine/session"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
	"github.com/eddy-realtime/eddy/valve"
)

// retryMs is the reconnection delay the stream suggests to EventSource.
const retryMs = 1000

// serveSSE streams the changes of the named events and records as
// server-sent events. See docs/http.md for the wire format.
func (a *API) serveSSE(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, protocol.CodeServerShutdown.String(), int(protocol.CodeServerShutdown), protocol.CodeServerShutdown.Message())
		return
	}
	keys, msg := a.streamNames(r)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "InvalidNames", 0, msg)
		return
	}
	if n := a.streams.Add(1); n > int64(a.opts.SSEMaxStreams) {
		a.streams.Add(-1)
		writeError(w, http.StatusServiceUnavailable, "TooManyStreams", 0, "the server serves at most "+strconv.Itoa(a.opts.SSEMaxStreams)+" streams (http.sseMaxStreams)")
		return
	}
	defer a.streams.Add(-1)

	setup, cancel := context.WithTimeout(r.Context(), a.opts.Timeout)
	defer cancel()
	ident, status, fail := a.authenticate(setup, r)
	if fail != nil {
		writeError(w, status, fail.Error, fail.Code, fail.Message)
		return
	}
	if fail := a.authorize(ident, keys); fail != nil {
		writeError(w, http.StatusForbidden, fail.Error, fail.Code, fail.Message)
		return
	}
	chans := make([]*channel, 0, len(keys))
	for _, k := range keys {
		c, err := a.hub.acquire(setup, k)
		if err != nil {
			for _, c := range chans {
				a.hub.release(c)
			}
			status, name := http.StatusServiceUnavailable, "Unavailable"
			if errors.Is(err, errDraining) {
				name = protocol.CodeServerShutdown.String()
			} else if errors.Is(err, errTooManyWatched) {
				name = "TooManyStreams"
			} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				status, name = http.StatusInternalServerError, protocol.CodeStorageError.String()
			}
			writeError(w, status, name, 0, err.Error())
			return
		}
		chans = append(chans, c)
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventId")
	}
	s := &stream{wake: make(chan struct{}, 1), max: min(a.opts.SSEHistory*len(chans), 1<<20)}
	start, err := a.hub.attach(s, chans, a.hub.parseID(lastID))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, protocol.CodeServerShutdown.String(), int(protocol.CodeServerShutdown), err.Error())
		return
	}
	defer a.hub.detach(s, chans)
	if m := a.cfg.Metrics; m != nil {
		m.Stream(true)
		defer m.Stream(false)
		for i := 0; i < start.nGaps; i++ {
			m.SSEGap()
		}
	}
	a.stream(w, r, s, &start, ident.ExpiresAt)
}

// streamNames reads the names a stream asks for: events=a,b and records=x,y
// (comma-separated), or event=… and record=… once per name (a name may then
// hold commas).
func (a *API) streamNames(r *http.Request) ([]chanKey, string) {
	q := r.URL.Query()
	var keys []chanKey
	seen := map[chanKey]bool{}
	add := func(topic fb.Topic, name string) string {
		switch {
		case name == "" || !utf8.ValidString(name):
			return "a name is empty or not UTF-8"
		case len(name) > a.cfg.MaxNameLength:
			return "a name is longer than " + strconv.Itoa(a.cfg.MaxNameLength) + " bytes (session.maxNameLength)"
		}
		k := chanKey{topic, name}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		return ""
	}
	for _, p := range []struct {
		topic       fb.Topic
		list, plain string
	}{{fb.TopicEvent, "events", "event"}, {fb.TopicRecord, "records", "record"}} {
		for _, v := range q[p.list] {
			for _, n := range strings.Split(v, ",") {
				if msg := add(p.topic, n); msg != "" {
					return nil, msg
				}
			}
		}
		for _, n := range q[p.plain] {
			if msg := add(p.topic, n); msg != "" {
				return nil, msg
			}
		}
	}
	switch {
	case len(keys) == 0:
		return nil, "name at least one event or record: /sse?events=a,b&records=x,y"
	case len(keys) > a.opts.SSEMaxNames:
		return nil, strconv.Itoa(len(keys)) + " names; a stream may watch at most " + strconv.Itoa(a.opts.SSEMaxNames) + " (http.sseMaxNames)"
	}
	return keys, ""
}

// authenticate logs the stream in with the configured strategies: auth
// data from the authData query parameter (JSON), a token parameter, or an
// Authorization: Bearer header.
func (a *API) authenticate(ctx context.Context, r *http.Request) (session.Identity, int, *Result) {
	q := r.URL.Query()
	var data []byte
	switch {
	case q.Get("authData") != "":
		data = []byte(q.Get("authData"))
		if !json.Valid(data) || data[0] != '{' {
			res := codeResult(protocol.CodeInvalidData, "authData must be a JSON object")
			return session.Identity{}, http.StatusBadRequest, &res
		}
	case q.Has("token"):
		data = tokenData(q.Get("token"))
	default:
		data = headerAuth(r)
	}
	req := &session.LoginRequest{Data: data, RemoteAddr: r.RemoteAddr, Header: r.Header}
	ident, err := a.cfg.Auth.Authenticate(ctx, req)
	if m := a.cfg.Metrics; m != nil {
		m.Login(err == nil)
	}
	if err != nil {
		code, reason := protocol.CodeInvalidCredentials, protocol.CodeInvalidCredentials.Message()
		var le *session.LoginError
		if errors.As(err, &le) {
			code, reason = le.Code, le.Reason
		}
		res := codeResult(code, reason)
		return session.Identity{}, statusOf(code), &res
	}
	return ident, 0, nil
}

// authorize checks every name against the permission rules as a
// connection's subscribe (events) or read (records) would be.
func (a *API) authorize(ident session.Identity, keys []chanKey) *Result {
	if a.cfg.Permissions == nil {
		return nil
	}
	rules := a.cfg.Permissions()
	if rules == nil {
		return nil
	}
	user := &valve.User{ID: ident.User, Authenticated: ident.User != "", Data: ident.ServerData}
	for _, k := range keys {
		req := valve.Request{Topic: "event", Action: "subscribe", Name: k.name, User: user}
		action := fb.ActionSubscribe
		if k.topic == fb.TopicRecord {
			req.Topic, req.Action, action = "record", "read", fb.ActionRead
		}
		if d := rules.Check(&req, a.cfg.Reader); !d.Allow {
			if m := a.cfg.Metrics; m != nil {
				m.Denied(k.topic, action)
			}
			res := codeResult(protocol.CodePermissionDenied, d.Reason)
			return &res
		}
	}
	return nil
}

// stream writes start and then every queued change until the client goes
// away, the queue overflows, the credentials expire or the hub closes.
func (a *API) stream(w http.ResponseWriter, r *http.Request, s *stream, start *attached, expires time.Time) {
	rc := http.NewResponseController(w)
	// The request is read: the stream itself may last longer than the
	// server's ReadTimeout, which would otherwise cancel it.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	buf := []byte("retry: " + strconv.Itoa(retryMs) + "\n\n")
	sent := 0
	for _, b := range start.gaps {
		buf = appendEvent(buf, "", b)
	}
	for _, e := range start.backlog {
		buf = appendEvent(buf, a.hub.id(e.seq), e.body)
	}
	for _, b := range start.states {
		buf = appendEvent(buf, "", b)
	}
	buf = appendEvent(buf, a.hub.id(start.pos), []byte(`{"topic":"stream","action":"ready"}`))
	sent += len(start.gaps) + len(start.backlog) + len(start.states) + 1
	if !a.write(w, rc, buf, sent) {
		return
	}

	beat := time.NewTicker(a.opts.SSEHeartbeat)
	defer beat.Stop()
	var expiry <-chan time.Time
	if !expires.IsZero() {
		t := time.NewTimer(time.Until(expires))
		defer t.Stop()
		expiry = t.C
	}
	var q []*entry
	for {
		select {
		case <-r.Context().Done():
			return
		case <-expiry:
			buf = appendEvent(buf[:0], "", []byte(`{"topic":"stream","action":"close","data":{"error":"TokenExpired","message":"credentials expired"}}`))
			a.write(w, rc, buf, 1)
			return
		case <-beat.C:
			if !a.write(w, rc, []byte(": heartbeat\n\n"), 0) {
				return
			}
			continue
		case <-s.wake:
		}
		var overflow, closed bool
		q, overflow, closed = a.hub.take(s, q[:0])
		buf = buf[:0]
		for _, e := range q {
			buf = appendEvent(buf, a.hub.id(e.seq), e.body)
		}
		clear(q)
		if len(buf) > 0 && !a.write(w, rc, buf, len(q)) {
			return
		}
		if overflow || closed {
			// End the stream: the client reconnects with its last id and
			// catches up from the history, or learns of a gap.
			return
		}
	}
}

// write sends buf and flushes; false when the client is gone.
func (a *API) write(w http.ResponseWriter, rc *http.ResponseController, buf []byte, messages int) bool {
	if _, err := w.Write(buf); err != nil {
		return false
	}
	if err := rc.Flush(); err != nil {
		return false
	}
	if m := a.cfg.Metrics; m != nil && messages > 0 {
		m.SSESent(messages)
	}
	return true
}

// appendEvent appends one SSE message: an id line when id is set, and
// body (one line of JSON) as its data.
func appendEvent(dst []byte, id string, body []byte) []byte {
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	dst = append(dst, body...)
	return append(dst, '\n', '\n')
}
