package load

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/eddy-realtime/eddy/codec/msg"
)

// templateMarker goes into the ID or Version field of the message a
// template is built from, so the field can be found in the encoding.
const templateMarker = 0x0123456789abcdef

// msgTemplate is one encoded message sent many times with different data
// of the same length and a different 8-byte ID or version: a FlatBuffers
// layout depends only on the lengths of the fields, so both are
// overwritten in place and the message is encoded once, not per send.
// A template belongs to one goroutine.
type msgTemplate struct {
	buf       []byte
	dataOff   int
	dataLen   int
	scalarOff int
}

var errTemplate = errors.New("load: cannot locate the fields of an encoded message template")

// newTemplate encodes m with dataLen marker bytes as its data; m's ID or
// Version must be templateMarker (the one scalar fill overwrites).
func newTemplate(m msg.Msg, dataLen int) (*msgTemplate, error) {
	marker := bytes.Repeat([]byte{0xA5}, dataLen)
	m.Data = marker
	enc := msg.Append(nil, &m)
	// The data is a vector: its length, then the bytes (a byte of the
	// length may equal the marker's, so match both).
	off := -1
	for i := 4; i+dataLen <= len(enc); i++ {
		if binary.LittleEndian.Uint32(enc[i-4:]) == uint32(dataLen) && bytes.Equal(enc[i:i+dataLen], marker) {
			off = i
			break
		}
	}
	var sm [8]byte
	binary.LittleEndian.PutUint64(sm[:], templateMarker)
	soff := bytes.Index(enc, sm[:])
	if dataLen < 1 || off < 0 || soff < 0 {
		return nil, errTemplate
	}
	return &msgTemplate{buf: enc, dataOff: off, dataLen: dataLen, scalarOff: soff}, nil
}

// fits reports whether data can fill the template.
func (t *msgTemplate) fits(data []byte) bool { return t != nil && len(data) == t.dataLen }

// fill writes data (of the template's length) and the scalar, and returns
// the encoded message, valid until the next fill.
func (t *msgTemplate) fill(data []byte, scalar uint64) []byte {
	copy(t.buf[t.dataOff:t.dataOff+t.dataLen], data)
	binary.LittleEndian.PutUint64(t.buf[t.scalarOff:], scalar)
	return t.buf
}
