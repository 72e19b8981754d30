// Package protocol is the Eddy wire contract as data: the FlatBuffers schema
// (schema/eddy.fbs, generated Go in protocol/fb), the protocol version, and
// the numbered error catalogue (schema/errors.json) shared with both SDKs.
//
// It does no I/O and holds no state; everything here is safe to use from any
// goroutine.
package protocol

//go:generate flatc --go -o . schema/eddy.fbs
//go:generate flatc --ts -o ../sdk-js/src/gen schema/eddy.fbs
//go:generate go run ./internal/errgen

// Name is the protocol name a client sends in its handshake.
const Name = "eddy"

// Version is the protocol version this build speaks. A handshake naming any
// other version is refused with CodeUnsupportedVersion.
const Version = 1

// Code is a numbered error or close reason from schema/errors.json.
type Code uint16

type codeInfo struct {
	name      string
	message   string
	close     bool
	reconnect bool
}

// String returns the catalogue name of c, or "Code(n)" for unknown codes.
func (c Code) String() string {
	if i, ok := codeTable[c]; ok {
		return i.name
	}
	return "Code(" + itoa(int(c)) + ")"
}

// Message returns the catalogue's human-readable message for c.
func (c Code) Message() string {
	if i, ok := codeTable[c]; ok {
		return i.message
	}
	return "unknown error"
}

// Closes reports whether the server closes the connection after sending c.
func (c Code) Closes() bool { return codeTable[c].close }

// Reconnect reports whether a client closed with c should reconnect.
func (c Code) Reconnect() bool { return codeTable[c].reconnect }

// Known reports whether c is in the catalogue.
func (c Code) Known() bool {
	_, ok := codeTable[c]
	return ok
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
