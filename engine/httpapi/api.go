package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// apiRequest is the body of POST /api.
type apiRequest struct {
	Token    *string           `json:"token"`
	AuthData json.RawMessage   `json:"authData"`
	Body     []json.RawMessage `json:"body"`
}

// apiMessage is one message of a batch.
type apiMessage struct {
	Topic      string          `json:"topic"`
	Action     string          `json:"action"`
	Name       wireName        `json:"name"`
	RecordName wireName        `json:"recordName"`
	EventName  wireName        `json:"eventName"`
	RPCName    wireName        `json:"rpcName"`
	Path       *string         `json:"path"`
	Data       json.RawMessage `json:"data"`
	Version    *int64          `json:"version"`
	Names      []wireName      `json:"names"`
	Timeout    int64           `json:"timeout"` // rpc: response deadline in ms
}

func (m *apiMessage) name() string {
	for _, n := range []wireName{m.Name, m.RecordName, m.EventName, m.RPCName} {
		if n != "" {
			return string(n)
		}
	}
	return ""
}

// Result is the outcome of one message.
type Result struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data,omitempty"`
	Version *int64          `json:"version,omitempty"`
	Error   string          `json:"error,omitempty"`
	Code    int             `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
}

// Response is the body of a POST /api that ran.
type Response struct {
	Result string   `json:"result"` // SUCCESS, PARTIAL_SUCCESS or FAILURE
	Body   []Result `json:"body"`
}

// Error names of failures that are not catalogue codes.
const (
	errTimeout     = "Timeout"
	errInvalidJSON = "InvalidJSON"
	errTooLarge    = "BodyTooLarge"
	errTooMany     = "TooManyMessages"
	errNoMessages  = "NoMessages"
)

func codeResult(code protocol.Code, message string) Result {
	if message == "" {
		message = code.Message()
	}
	return Result{Error: code.String(), Code: int(code), Message: message}
}

func (a *API) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if a.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, protocol.CodeServerShutdown.String(), int(protocol.CodeServerShutdown), protocol.CodeServerShutdown.Message())
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(a.opts.MaxBody)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, errTooLarge, 0, "the request body exceeds "+strconv.Itoa(a.opts.MaxBody)+" bytes (http.maxBody)")
			return
		}
		writeError(w, http.StatusBadRequest, errInvalidJSON, 0, "reading the request body: "+err.Error())
		return
	}
	var req apiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, errInvalidJSON, 0, "the request body is not a JSON object of the documented shape: "+err.Error())
		return
	}
	if len(req.Body) == 0 {
		writeError(w, http.StatusBadRequest, errNoMessages, 0, `"body" must be an array of at least one message`)
		return
	}
	if len(req.Body) > a.opts.MaxMessages {
		writeError(w, http.StatusBadRequest, errTooMany, 0, strconv.Itoa(len(req.Body))+" messages; the limit is "+strconv.Itoa(a.opts.MaxMessages)+" (http.maxMessages)")
		return
	}
	authData, err := authDataOf(&req, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, errInvalidJSON, 0, err.Error())
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), a.opts.Timeout)
	defer cancel()
	v := newVconn(a.net, r)
	defer v.close()
	if status, fail := a.login(ctx, v, authData); fail != nil {
		writeError(w, status, fail.Error, fail.Code, fail.Message)
		return
	}
	run := batch{a: a, v: v, ctx: ctx, id: 1}
	results := make([]Result, len(req.Body))
	for i, raw := range req.Body {
		results[i] = run.one(raw)
		if a.cfg.Metrics != nil {
			a.cfg.Metrics.APIMessage(results[i].Success)
		}
	}
	ok := 0
	for _, res := range results {
		if res.Success {
			ok++
		}
	}
	resp := Response{Result: "PARTIAL_SUCCESS", Body: results}
	switch ok {
	case len(results):
		resp.Result = "SUCCESS"
	case 0:
		resp.Result = "FAILURE"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.APILatency(time.Since(start))
	}
}

// authDataOf picks the login data: "authData", else "token" as
// {"token": …}, else an Authorization: Bearer header as {"token": …}, else
// nothing (an anonymous login, as a client sending no auth data).
func authDataOf(req *apiRequest, r *http.Request) ([]byte, error) {
	if len(req.AuthData) > 0 && string(req.AuthData) != "null" {
		if req.AuthData[0] != '{' {
			return nil, errors.New(`"authData" must be a JSON object`)
		}
		return req.AuthData, nil
	}
	if req.Token != nil {
		return tokenData(*req.Token), nil
	}
	return headerAuth(r), nil
}

// headerAuth turns an Authorization: Bearer header into {"token": …}.
func headerAuth(r *http.Request) []byte {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return tokenData(strings.TrimSpace(h[7:]))
	}
	return nil
}

func tokenData(tok string) []byte {
	b, _ := json.Marshal(map[string]string{"token": tok}) // a map of strings always encodes
	return b
}

// login runs the handshake and login; on failure it returns the HTTP
// status and the error to answer with.
func (a *API) login(ctx context.Context, v *vconn, authData []byte) (int, *Result) {
	v.send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
	v.send(&msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1, Data: authData})
	for {
		m, err := v.next(ctx)
		if err != nil {
			res := waitFailure(err, a.opts.Timeout)
			return http.StatusServiceUnavailable, &res
		}
		switch {
		case m.Topic() == fb.TopicConnection && m.Action() == fb.ActionClose:
			code := protocol.Code(m.Code())
			res := codeResult(code, string(m.Reason()))
			return statusOf(code), &res
		case m.Topic() == fb.TopicAuth && m.Action() == fb.ActionLoginResult:
			if m.Code() == 0 {
				return 0, nil
			}
			code := protocol.Code(m.Code())
			res := codeResult(code, string(m.Reason()))
			return statusOf(code), &res
		}
	}
}

// statusOf maps a login refusal or a close to an HTTP status.
func statusOf(code protocol.Code) int {
	switch code {
	case protocol.CodeInvalidCredentials, protocol.CodeTokenExpired, protocol.CodeTooManyAuthAttempts:
		return http.StatusUnauthorized
	case protocol.CodeAuthUnavailable, protocol.CodeServerShutdown, protocol.CodeTooManyConnections:
		return http.StatusServiceUnavailable
	case protocol.CodeRateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// waitFailure describes why waiting for a reply stopped.
func waitFailure(err error, timeout time.Duration) Result {
	if errors.Is(err, context.DeadlineExceeded) {
		return Result{Error: errTimeout, Message: "no answer within " + timeout.String() + " (http.timeout)"}
	}
	if errors.Is(err, context.Canceled) {
		return Result{Error: errTimeout, Message: "the client went away"}
	}
	return codeResult(protocol.CodeInternalError, err.Error())
}
