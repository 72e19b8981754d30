package eddy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eddy-realtime/eddy/protocol"
)

// HTTPClient calls a server's HTTP API (POST /api, docs/http.md): for
// backends that send a few messages now and then without keeping a
// connection. Each Do is one HTTP request: the server logs it in with the
// client's credentials, runs its messages in order, and answers with one
// result per message.
//
// An HTTPClient is safe for concurrent use; it holds no connection of its
// own beyond the http.Client's pool.
type HTTPClient struct {
	endpoint string
	hc       *http.Client
	authData json.RawMessage
	bearer   string
}

// HTTPOption configures an HTTPClient.
type HTTPOption func(*HTTPClient) error

// WithHTTPAuth sends data (marshalled to a JSON object) as the login data
// of every request, as WithAuth does for a connection.
func WithHTTPAuth(data any) HTTPOption {
	return func(c *HTTPClient) error {
		b, err := json.Marshal(data)
		if err != nil {
			return wrapErr("http auth data", err)
		}
		if len(b) == 0 || b[0] != '{' {
			return fmt.Errorf("eddy: http auth data must marshal to a JSON object, not %s", b)
		}
		c.authData = b
		return nil
	}
}

// WithHTTPToken sends token as an Authorization: Bearer header, which the
// server turns into {"token": token} for its jwt strategy.
func WithHTTPToken(token string) HTTPOption {
	return func(c *HTTPClient) error { c.bearer = token; return nil }
}

// WithHTTPClient makes requests with hc (timeouts, TLS, proxies). Default:
// an http.Client with a 30 second timeout.
func WithHTTPClient(hc *http.Client) HTTPOption {
	return func(c *HTTPClient) error { c.hc = hc; return nil }
}

// NewHTTPClient returns a client for the server whose HTTP listener is at
// baseURL ("http://host:8080"); requests go to baseURL + "/api".
func NewHTTPClient(baseURL string, opts ...HTTPOption) (*HTTPClient, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not an http:// or https:// URL", ErrBadAddress, baseURL)
	}
	c := &HTTPClient{endpoint: strings.TrimSuffix(baseURL, "/") + "/api", hc: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// HTTPMessage is one message of a batch; build it with the HTTP… helpers
// below or fill it in (see docs/http.md for the topics and actions).
type HTTPMessage struct {
	Topic   string          `json:"topic"`
	Action  string          `json:"action"`
	Name    string          `json:"name,omitempty"`
	Path    string          `json:"path,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Version *int64          `json:"version,omitempty"`
	Names   []string        `json:"names,omitempty"`
	Timeout int64           `json:"timeout,omitempty"` // rpc make: response deadline in ms
}

// HTTPReadRecord reads a record's document and version (RecordNotFound
// when it does not exist).
func HTTPReadRecord(name string) HTTPMessage {
	return HTTPMessage{Topic: "record", Action: "read", Name: name}
}

// HTTPHeadRecord returns a record's version (-1 when it does not exist).
func HTTPHeadRecord(name string) HTTPMessage {
	return HTTPMessage{Topic: "record", Action: "head", Name: name}
}

// HTTPHasRecord tells whether a record exists (Data is true or false).
func HTTPHasRecord(name string) HTTPMessage {
	return HTTPMessage{Topic: "record", Action: "has", Name: name}
}

// HTTPSetRecord writes data (JSON) at path, or the whole document when path
// is empty, whatever the record's version. The result's Version is the one
// created; the write is durable when the result arrives.
func HTTPSetRecord(name, path string, data json.RawMessage) HTTPMessage {
	return HTTPMessage{Topic: "record", Action: "write", Name: name, Path: path, Data: data}
}

// HTTPSetRecordVersion writes like HTTPSetRecord but only as version (the
// record's current version + 1); otherwise the result fails with
// VersionExists and carries the current version and document.
func HTTPSetRecordVersion(name, path string, data json.RawMessage, version int64) HTTPMessage {
	m := HTTPSetRecord(name, path, data)
	m.Version = &version
	return m
}

// HTTPEraseRecordPath removes the value at path.
func HTTPEraseRecordPath(name, path string) HTTPMessage {
	return HTTPMessage{Topic: "record", Action: "erase", Name: name, Path: path}
}

// HTTPDeleteRecord deletes a record.
func HTTPDeleteRecord(name string) HTTPMessage {
	return HTTPMessage{Topic: "record", Action: "delete", Name: name}
}

// HTTPEmit publishes an event; data (JSON) may be nil.
func HTTPEmit(name string, data json.RawMessage) HTTPMessage {
	return HTTPMessage{Topic: "event", Action: "emit", Name: name, Data: data}
}

// HTTPMakeRPC calls an RPC; the result's Data is the provider's response.
// timeout overrides the server's response deadline when positive.
func HTTPMakeRPC(name string, data json.RawMessage, timeout time.Duration) HTTPMessage {
	return HTTPMessage{Topic: "rpc", Action: "make", Name: name, Data: data, Timeout: timeout.Milliseconds()}
}

// HTTPQueryPresence asks who is online: with no users the result's Data is
// the array of online users, with users an object of user → bool.
func HTTPQueryPresence(users ...string) HTTPMessage {
	return HTTPMessage{Topic: "presence", Action: "query", Names: users}
}

// HTTPResult is the outcome of one message.
type HTTPResult struct {
	// Data is the result's JSON (a document, a response, a boolean, a list),
	// or nil. For a VersionExists failure it is the current document.
	Data json.RawMessage
	// Version is the record version of the result; HasVersion says whether
	// the server sent one.
	Version    int64
	HasVersion bool
	// Err is nil on success; otherwise an *Error (a catalogue code, matched
	// by the package's sentinels) or an *HTTPError (Timeout).
	Err error
}

// HTTPError is a failure of the HTTP API that is not a single message's
// catalogue code: a whole request refused (Status set), or a message that
// ran out of time (Name "Timeout").
type HTTPError struct {
	Status  int           // HTTP status of a refused request; 0 for one message
	Name    string        // "BodyTooLarge", "TooManyMessages", "InvalidJSON", "NoMessages", "Timeout", or a catalogue code name
	Code    protocol.Code // the catalogue code when Name is one, else 0
	Message string
}

func (e *HTTPError) Error() string {
	s := "eddy: http api"
	if e.Status != 0 {
		s += fmt.Sprintf(" (%d)", e.Status)
	}
	return s + ": " + e.Name + ": " + e.Message
}

// Is matches the sentinels of Code (ErrAuthFailed for a refused login,
// ErrPermissionDenied, ...), as *Error does.
func (e *HTTPError) Is(target error) bool {
	if e.Code == 0 {
		return false
	}
	op := "http"
	if e.Status == http.StatusUnauthorized {
		op = "login"
	}
	return (&Error{Code: e.Code, Op: op}).Is(target)
}

type httpResult struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Version *int64          `json:"version"`
	Error   string          `json:"error"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
}

type httpResponse struct {
	Result  string       `json:"result"`
	Body    []httpResult `json:"body"`
	Error   string       `json:"error"`
	Code    int          `json:"code"`
	Message string       `json:"message"`
}

// maxAnswer bounds the answer read from the server.
const maxAnswer = 64 << 20

// Do sends msgs as one request and returns one result per message, in
// order. The error is non-nil only when the request as a whole failed (an
// *HTTPError, or a network error); each message's failure is in its
// result's Err.
func (c *HTTPClient) Do(ctx context.Context, msgs ...HTTPMessage) ([]HTTPResult, error) {
	body := struct {
		AuthData json.RawMessage `json:"authData,omitempty"`
		Body     []HTTPMessage   `json:"body"`
	}{c.authData, msgs}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, wrapErr("http api", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, wrapErr("http api", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, wrapErr("http api", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, wrapErr("http api: reading the answer", err)
	}
	var out httpResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%w: http api answered %d with %.200q", ErrProtocol, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Status: resp.StatusCode, Name: out.Error, Code: protocol.Code(out.Code), Message: out.Message}
	}
	if len(out.Body) != len(msgs) {
		return nil, fmt.Errorf("%w: http api answered %d results for %d messages", ErrProtocol, len(out.Body), len(msgs))
	}
	results := make([]HTTPResult, len(msgs))
	for i, r := range out.Body {
		res := HTTPResult{Data: r.Data}
		if r.Version != nil {
			res.Version, res.HasVersion = *r.Version, true
		}
		if !r.Success {
			if r.Code != 0 {
				res.Err = &Error{Code: protocol.Code(r.Code), Reason: r.Message, Op: "http " + msgs[i].Topic + " " + msgs[i].Action, Name: msgs[i].Name}
			} else {
				res.Err = &HTTPError{Name: r.Error, Message: r.Message}
			}
		}
		results[i] = res
	}
	return results, nil
}

// one runs a single message and returns its result or error.
func (c *HTTPClient) one(ctx context.Context, m HTTPMessage) (HTTPResult, error) {
	res, err := c.Do(ctx, m)
	if err != nil {
		return HTTPResult{}, err
	}
	return res[0], res[0].Err
}

// GetRecord returns a record's document and version.
func (c *HTTPClient) GetRecord(ctx context.Context, name string) (json.RawMessage, int64, error) {
	r, err := c.one(ctx, HTTPReadRecord(name))
	return r.Data, r.Version, err
}

// SetRecord writes data at path (the whole document when path is empty),
// durably, and returns the version created.
func (c *HTTPClient) SetRecord(ctx context.Context, name, path string, data json.RawMessage) (int64, error) {
	r, err := c.one(ctx, HTTPSetRecord(name, path, data))
	return r.Version, err
}

// DeleteRecord deletes a record, durably.
func (c *HTTPClient) DeleteRecord(ctx context.Context, name string) error {
	_, err := c.one(ctx, HTTPDeleteRecord(name))
	return err
}

// Emit publishes an event.
func (c *HTTPClient) Emit(ctx context.Context, name string, data json.RawMessage) error {
	_, err := c.one(ctx, HTTPEmit(name, data))
	return err
}

// MakeRPC calls an RPC and returns the provider's response.
func (c *HTTPClient) MakeRPC(ctx context.Context, name string, data json.RawMessage) (json.RawMessage, error) {
	r, err := c.one(ctx, HTTPMakeRPC(name, data, 0))
	return r.Data, err
}

// Online returns the users online.
func (c *HTTPClient) Online(ctx context.Context) ([]string, error) {
	r, err := c.one(ctx, HTTPQueryPresence())
	if err != nil {
		return nil, err
	}
	var users []string
	if err := json.Unmarshal(r.Data, &users); err != nil {
		return nil, errors.Join(ErrProtocol, err)
	}
	return users, nil
}
