package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxWebhookAnswer bounds the body read from the webhook.
const maxWebhookAnswer = 1 << 20

// webhookStrategy asks an HTTP endpoint about each login:
//
//	POST url  {"authData": <data or null>, "remoteAddr": "ip:port", "headers": {"Cookie": "..."}}
//
// 2xx with {"id" (or "username"), "clientData", "serverData"} accepts (an empty
// body or no id is the anonymous user); 401 and 403 refuse; 404 means the
// webhook does not know the user; any other status, a timeout or a failed
// connection is ErrUnavailable. Redirects are not followed.
type webhookStrategy struct {
	url            string
	timeout        time.Duration
	forward        []string // canonical header names
	requestHeaders http.Header
	client         *http.Client
	cache          *resultCache // nil: no cache
}

func newWebhookStrategy(cfg HTTPConfig) (*webhookStrategy, error) {
	s := &webhookStrategy{
		url:            cfg.URL,
		timeout:        cfg.Timeout,
		forward:        canonicalHeaders(cfg.ForwardHeaders),
		requestHeaders: http.Header{},
	}
	if s.timeout == 0 {
		s.timeout = DefaultHTTPTimeout
	}
	for k, v := range cfg.RequestHeaders {
		s.requestHeaders.Set(k, v)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	s.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	if cfg.CacheTTL > 0 {
		size := cfg.CacheSize
		if size == 0 {
			size = DefaultCacheSize
		}
		s.cache = newResultCache(size, cfg.CacheTTL, time.Now)
	}
	return s, nil
}

func (s *webhookStrategy) Name() string { return "http" }

// webhookRequest is the body posted to the webhook.
type webhookRequest struct {
	AuthData   json.RawMessage   `json:"authData"`
	RemoteAddr string            `json:"remoteAddr"`
	Headers    map[string]string `json:"headers"`
}

// webhookAnswer is the body of a 2xx answer.
type webhookAnswer struct {
	ID         *string         `json:"id"`
	Username   *string         `json:"username"`
	ClientData json.RawMessage `json:"clientData"`
	ServerData json.RawMessage `json:"serverData"`
}

func (s *webhookStrategy) Authenticate(ctx context.Context, req *Request) (Result, error) {
	body := webhookRequest{AuthData: json.RawMessage("null"), RemoteAddr: req.RemoteAddr, Headers: map[string]string{}}
	if !isBlank(req.Data) {
		if !json.Valid(req.Data) {
			return Result{}, fmt.Errorf("auth: http: auth data is not JSON: %w", ErrInvalidCredentials)
		}
		body.AuthData = req.Data
	}
	for _, name := range s.forward {
		if vs := req.Header.Values(name); len(vs) > 0 {
			sep := ", "
			if name == "Cookie" {
				sep = "; "
			}
			body.Headers[name] = strings.Join(vs, sep)
		}
	}
	var key cacheKey
	if s.cache != nil {
		key = s.cacheKey(body.AuthData, body.Headers)
		if res, ok := s.cache.get(key); ok {
			return res, nil
		}
	}
	res, err := s.call(ctx, &body)
	if err != nil {
		return Result{}, err
	}
	if s.cache != nil {
		s.cache.put(key, res)
	}
	return res, nil
}

// cacheKey hashes the auth data and the forwarded headers: the inputs the
// webhook decides on, apart from the peer address.
func (s *webhookStrategy) cacheKey(data []byte, headers map[string]string) cacheKey {
	h := sha256.New()
	var n [8]byte
	write := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	write(data)
	for _, name := range s.forward { // fixed order
		v, ok := headers[name]
		if ok {
			write([]byte(name))
			write([]byte(v))
		}
	}
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// call posts the request and interprets the answer.
func (s *webhookStrategy) call(ctx context.Context, body *webhookRequest) (Result, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return Result{}, fmt.Errorf("auth: http: encoding request: %v: %w", err, ErrInvalidCredentials)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return Result{}, fmt.Errorf("auth: http: %v: %w", err, ErrUnavailable)
	}
	for k, v := range s.requestHeaders {
		hr.Header[k] = v
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(hr)
	if err != nil {
		return Result{}, fmt.Errorf("auth: http: %w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookAnswer+1))
	if err != nil {
		return Result{}, fmt.Errorf("auth: http: reading answer: %w: %w", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Result{}, fmt.Errorf("auth: http: webhook refused (%s): %w", resp.Status, ErrInvalidCredentials)
	case resp.StatusCode == http.StatusNotFound:
		return Result{}, fmt.Errorf("auth: http: webhook does not know the user: %w", ErrUnknownUser)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return Result{}, fmt.Errorf("auth: http: webhook answered %s: %w", resp.Status, ErrUnavailable)
	}
	if len(answer) > maxWebhookAnswer {
		return Result{}, fmt.Errorf("auth: http: answer exceeds %d bytes: %w", maxWebhookAnswer, ErrUnavailable)
	}
	return parseWebhookAnswer(answer)
}

// parseWebhookAnswer reads a 2xx body. A malformed body is the webhook's
// fault, so it is ErrUnavailable, not a refusal.
func parseWebhookAnswer(b []byte) (Result, error) {
	if isBlank(b) {
		return Result{}, nil
	}
	var a webhookAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return Result{}, fmt.Errorf("auth: http: answer field %q has the wrong type: %w", ute.Field, ErrUnavailable)
		}
		return Result{}, fmt.Errorf("auth: http: answer is not a JSON object: %w", ErrUnavailable)
	}
	var res Result
	switch {
	case a.ID != nil:
		res.ID = *a.ID
	case a.Username != nil:
		res.ID = *a.Username
	}
	res.ClientData = nonNull(a.ClientData)
	res.ServerData = nonNull(a.ServerData)
	return res, nil
}

// nonNull returns nil for an absent or null JSON value, else m.
func nonNull(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}
