package ws

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (ParseRequest errors may wrap two: ErrBadRequest plus ErrTooLarge or
// ErrVersion), so callers test with errors.Is.
var (
	// ErrBadRequest: the bytes are not an acceptable WebSocket upgrade request
	// (HTTP 400).
	ErrBadRequest = errors.New("ws: bad upgrade request")
	// ErrTooLarge: the request head did not fit in the allowed size (HTTP 431).
	ErrTooLarge = errors.New("ws: request header too large")
	// ErrVersion: the client asked for a WebSocket version other than 13
	// (HTTP 426 with Sec-WebSocket-Version: 13).
	ErrVersion = errors.New("ws: unsupported websocket version")
	// ErrBadResponse: the server's answer to our upgrade request is not an
	// acceptable 101 response.
	ErrBadResponse = errors.New("ws: bad upgrade response")

	// ErrProtocol: a frame broke RFC 6455 (close code 1002).
	ErrProtocol = errors.New("ws: protocol error")
	// ErrInvalidData: a text message or close reason is not UTF-8, or a
	// compressed message does not inflate (close code 1007).
	ErrInvalidData = errors.New("ws: invalid payload data")
	// ErrTooBig: a message exceeds the configured maximum, before or after
	// inflating (close code 1009).
	ErrTooBig = errors.New("ws: message too big")
)

// Close codes (RFC 6455 section 7.4 and the IANA registry).
const (
	CloseNormal             uint16 = 1000
	CloseGoingAway          uint16 = 1001
	CloseProtocolError      uint16 = 1002
	CloseUnsupportedData    uint16 = 1003
	CloseNoStatus           uint16 = 1005 // reported for an empty close frame; never sent
	CloseAbnormal           uint16 = 1006 // never sent
	CloseInvalidPayload     uint16 = 1007
	ClosePolicyViolation    uint16 = 1008
	CloseTooBig             uint16 = 1009
	CloseMandatoryExtension uint16 = 1010
	CloseInternalError      uint16 = 1011
	CloseServiceRestart     uint16 = 1012
	CloseTryAgainLater      uint16 = 1013
	CloseBadGateway         uint16 = 1014
	CloseTLSHandshake       uint16 = 1015 // never sent
)

// ValidCloseCode reports whether code may appear in a close frame on the
// wire: 1000-1003, 1007-1014 (the registered codes) and 3000-4999 (libraries
// and applications). 1004-1006 and 1015 are reserved or local-only, the rest
// of 0-2999 is unassigned, and 5000 and above do not exist.
func ValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// CloseError is the error Parser.Next returns for a peer that broke the
// protocol. Code is the close code to send back before closing the
// connection, Reason a short text suitable for the close frame, and Err the
// detailed cause, which wraps ErrProtocol, ErrInvalidData or ErrTooBig.
type CloseError struct {
	Code   uint16
	Reason string
	Err    error
}

func (e *CloseError) Error() string { return e.Err.Error() }

// Unwrap returns the detailed cause.
func (e *CloseError) Unwrap() error { return e.Err }

func protocolError(format string, args ...any) error {
	return &CloseError{Code: CloseProtocolError, Reason: "protocol error",
		Err: fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)}
}

func invalidData(format string, args ...any) error {
	return &CloseError{Code: CloseInvalidPayload, Reason: "invalid payload data",
		Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidData}, args...)...)}
}

func tooBig(format string, args ...any) error {
	return &CloseError{Code: CloseTooBig, Reason: "message too big",
		Err: fmt.Errorf("%w: "+format, append([]any{ErrTooBig}, args...)...)}
}

// StatusError is returned by ParseResponse when the server answered the
// upgrade request with a status other than 101. It wraps ErrBadResponse.
type StatusError struct {
	Status int
	Reason string // the reason phrase from the status line
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("ws: bad upgrade response: status %d %s", e.Status, e.Reason)
}

// Unwrap returns ErrBadResponse.
func (e *StatusError) Unwrap() error { return ErrBadResponse }

// HTTPStatus maps a ParseRequest error to the status to answer with:
// 431 for ErrTooLarge, 426 for ErrVersion, 400 for anything else.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, ErrVersion):
		return http.StatusUpgradeRequired
	}
	return http.StatusBadRequest
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

func badResponse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadResponse}, args...)...)
}
