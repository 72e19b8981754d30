package ws

import (
	"encoding/binary"
	"unicode/utf8"
)

// Opcode is a frame opcode (RFC 6455 5.2).
type Opcode byte

// Defined opcodes; 3-7 and 11-15 are reserved and rejected.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}

// Header bits.
const (
	bitFin    = 0x80
	bitRSV1   = 0x40
	bitRSV2   = 0x20
	bitRSV3   = 0x10
	bitMasked = 0x80
)

// MaxHeaderSize is the largest frame header: 2 bytes, 8 bytes of extended
// length and a 4-byte mask key.
const MaxHeaderSize = 14

// MaxControlPayload is the largest payload of a control frame, and
// MaxCloseReason the largest close reason (two bytes go to the code).
const (
	MaxControlPayload = 125
	MaxCloseReason    = MaxControlPayload - 2
)

// AppendHeader appends a frame header for a payload of length bytes. fin
// marks the last frame of a message; compressed sets RSV1 and belongs on the
// first frame of a compressed message only. mask nil writes an unmasked
// frame (what a server sends); a client passes its mask key and masks the
// payload itself (MaskBytes) or uses AppendFrame.
func AppendHeader(dst []byte, op Opcode, length int, fin, compressed bool, mask *[4]byte) []byte {
	b0 := byte(op) & 0x0f
	if fin {
		b0 |= bitFin
	}
	if compressed {
		b0 |= bitRSV1
	}
	var b1 byte
	if mask != nil {
		b1 = bitMasked
	}
	switch {
	case length < 126:
		dst = append(dst, b0, b1|byte(length))
	case length <= 0xffff:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(length))
	}
	if mask != nil {
		dst = append(dst, mask[:]...)
	}
	return dst
}

// AppendFrame appends payload as one final (FIN) frame. With a mask the
// copied payload is masked; payload itself is never modified. compressed
// marks a payload the caller produced with Compress.
func AppendFrame(dst []byte, op Opcode, payload []byte, compressed bool, mask *[4]byte) []byte {
	dst = AppendHeader(dst, op, len(payload), true, compressed, mask)
	start := len(dst)
	dst = append(dst, payload...)
	if mask != nil {
		MaskBytes(*mask, 0, dst[start:])
	}
	return dst
}

// AppendClose appends a close frame carrying code and reason. The reason is
// cut to MaxCloseReason bytes at a UTF-8 boundary. Code 0 and the codes that
// must never be sent (1005, 1006, 1015) produce a close frame with an empty
// payload, which is how "no status" is said on the wire.
func AppendClose(dst []byte, code uint16, reason string, mask *[4]byte) []byte {
	if code == 0 || code == CloseNoStatus || code == CloseAbnormal || code == CloseTLSHandshake {
		return AppendFrame(dst, OpClose, nil, false, mask)
	}
	if len(reason) > MaxCloseReason {
		cut := MaxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendHeader(dst, OpClose, 2+len(reason), true, false, mask)
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, code)
	dst = append(dst, reason...)
	if mask != nil {
		MaskBytes(*mask, 0, dst[start:])
	}
	return dst
}

// MaskBytes XORs b in place with the mask key, starting at key byte pos&3,
// and returns the key position after b, so a payload masked in pieces gives
// the same bytes as masked at once. Masking twice unmasks.
func MaskBytes(key [4]byte, pos int, b []byte) int {
	pos &= 3
	end := (pos + len(b)) & 3
	if len(b) < 8 {
		for i := range b {
			b[i] ^= key[(pos+i)&3]
		}
		return end
	}
	// The key rotated to start at pos, repeated over 8 bytes: byte i of any
	// 8-byte word starting at a multiple of 4 from b[0] needs key[(pos+i)&3].
	k32 := uint32(key[pos&3]) | uint32(key[(pos+1)&3])<<8 | uint32(key[(pos+2)&3])<<16 | uint32(key[(pos+3)&3])<<24
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w := b[i : i+32 : i+32]
		binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^k64)
		binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^k64)
		binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^k64)
		binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^k64)
	}
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[(pos+i)&3]
	}
	return end
}
