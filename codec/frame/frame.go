// Package frame implements Eddy's raw-TCP framing: each frame is a
// little-endian uint32 payload length followed by the payload.
//
// The splitter is stateless: Next looks at whatever bytes are buffered and
// reports the first complete frame, so input may break at any byte and the
// caller keeps the unconsumed bytes (the event loop's inbound buffer does).
// Everything here is pure and safe for concurrent use.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderSize is the length prefix size in bytes.
const HeaderSize = 4

// ErrTooLarge is returned (wrapped) when a frame announces a payload longer
// than the allowed maximum; the connection cannot be resynchronised after it.
var ErrTooLarge = errors.New("frame: payload too large")

// Next returns the payload of the first complete frame in buf and the number
// of bytes it occupies (header included). n == 0 with a nil error means buf
// does not hold a whole frame yet. The payload aliases buf.
func Next(buf []byte, max int) (payload []byte, n int, err error) {
	if len(buf) < HeaderSize {
		return nil, 0, nil
	}
	size := binary.LittleEndian.Uint32(buf)
	if uint64(size) > uint64(max) {
		return nil, 0, fmt.Errorf("%w: %d bytes announced, %d allowed", ErrTooLarge, size, max)
	}
	end := HeaderSize + int(size)
	if len(buf) < end {
		return nil, 0, nil
	}
	return buf[HeaderSize:end], end, nil
}

// AppendHeader appends the length prefix for an n-byte payload.
func AppendHeader(dst []byte, n int) []byte {
	return binary.LittleEndian.AppendUint32(dst, uint32(n))
}

// Append appends payload as one frame.
func Append(dst, payload []byte) []byte {
	return append(AppendHeader(dst, len(payload)), payload...)
}
