package msg

import (
	"unsafe"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/eddy-realtime/eddy/protocol/fb"
)

// View is a verified, zero-copy reading of one Message.
//
// Lifetime: a View and every []byte its accessors return point into the
// buffer it was reset with. In the server that buffer is the event loop's
// read buffer, valid only until the handler returns; anything kept longer
// (record bodies, RPC payloads waiting for a provider) must be copied once,
// on purpose. A View is not safe for concurrent use.
type View struct {
	fb.Message
	buf []byte
}

// Reset verifies buf and points v at it. On error v is left empty and must
// not be read.
func (v *View) Reset(buf []byte) error {
	if err := Verify(buf); err != nil {
		v.buf = nil
		v.Init(nil, 0)
		return err
	}
	v.buf = buf
	// GetRootAsMessage without the allocation: the root offset is the first word.
	v.Init(buf, flatbuffers.UOffsetT(fbRoot(buf)))
	return nil
}

// Bytes returns the whole encoded message (for forwarding unchanged).
func (v *View) Bytes() []byte { return v.buf }

// Has reports whether the message carries a flag.
func (v *View) Has(f fb.Flags) bool { return fb.Flags(v.Flags())&f != 0 }

// NameString returns the name as a string that aliases the buffer; it is
// valid under the same lifetime as the View. Copy it (strings.Clone) to keep it.
func (v *View) NameString() string { return UnsafeString(v.Name()) }

// PathString returns the path as an aliasing string; see NameString.
func (v *View) PathString() string { return UnsafeString(v.Path()) }

// NamesAt returns element i of names as a []byte into the buffer.
func (v *View) NamesAt(i int) []byte { return v.Names(i) }

func fbRoot(buf []byte) uint32 {
	return uint32(buf[0]) | uint32(buf[1])<<8 | uint32(buf[2])<<16 | uint32(buf[3])<<24
}

// UnsafeString views b as a string without copying. The string is valid only
// while b is neither modified nor recycled.
func UnsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
