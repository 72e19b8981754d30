package ws

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// DefaultMaxMessage is the message size limit of a Parser whose MaxMessage
// is zero or negative.
const DefaultMaxMessage = 1 << 20

// retainLimit is the largest reassembly or inflate buffer a Parser keeps
// between messages; a bigger one is dropped once its message is delivered,
// so one large message does not pin memory on an idle connection.
const retainLimit = 64 << 10

// Parser cuts messages and control frames out of a WebSocket byte stream.
// Set the exported fields before the first call to Next and leave them
// alone afterwards. The zero value is a server-side parser for an
// uncompressed connection with DefaultMaxMessage.
//
// A Parser belongs to one goroutine at a time (the connection's event loop).
type Parser struct {
	// MaxMessage bounds a data message's payload after reassembly and
	// inflation; <= 0 means DefaultMaxMessage. The wire size of a compressed
	// message may exceed it by 1/1024 plus 64 bytes (deflate's overhead on
	// incompressible data).
	MaxMessage int
	// Deflate: permessage-deflate was negotiated, so RSV1 marks a
	// compressed message. Without it RSV1 is a protocol error.
	Deflate bool
	// Client: we are the client, so frames arrive unmasked. When false
	// (server) every frame must be masked.
	Client bool

	msgOp         Opcode // opcode of the fragmented message in progress; 0: none
	msgCompressed bool   // that message's first frame had RSV1
	frag          []byte // reassembled payload (still compressed if msgCompressed)
	out           []byte // inflated payload of the last compressed message
}

// Frame is one complete data message or control frame.
type Frame struct {
	// Op is OpText, OpBinary, OpClose, OpPing or OpPong. OpContinuation
	// (the zero value) with n > 0 from Next means that fragments were
	// consumed and buffered with nothing to deliver yet.
	Op Opcode
	// Payload is the message (reassembled and inflated) or the control
	// frame's payload (for a close frame: code and reason as sent). It
	// aliases either the buffer given to Next or the Parser's own buffers,
	// and is valid until the next call to Next or Reset.
	Payload []byte
	// Compressed: the message arrived compressed (RSV1) and was inflated.
	Compressed bool
	// CloseCode and CloseReason are set for OpClose. An empty close frame
	// reports CloseNoStatus (1005) and no reason.
	CloseCode   uint16
	CloseReason string
}

// Buffered returns the number of payload bytes held for a fragmented
// message that has not ended yet.
func (p *Parser) Buffered() int {
	if p.msgOp == 0 {
		return 0
	}
	return len(p.frag)
}

// Reset forgets any message in progress and releases the Parser's buffers,
// keeping the configuration.
func (p *Parser) Reset() {
	p.msgOp, p.msgCompressed = 0, false
	p.frag, p.out = nil, nil
}

// Next returns the next complete data message or control frame at the start
// of buf and the number of bytes it used, which the caller discards.
//
//   - n == 0, err == nil: buf holds no complete frame yet; call again with
//     more bytes appended.
//   - n > 0, f.Op == OpContinuation: n bytes of fragments were consumed and
//     copied into the Parser; nothing to deliver yet.
//   - err != nil: a *CloseError; the caller sends a close frame with its
//     Code and closes the connection. The Parser must not be used again.
//
// Control frames may arrive between the fragments of a message and are
// returned as they come. A message in one uncompressed frame is unmasked in
// place and its Payload aliases buf; fragments are copied into the Parser
// and compressed messages are inflated into it. Sizes are checked from the
// frame header, before its payload arrives. Next writes to buf (unmasking)
// only within frames that arrived completely: the n bytes it reports
// consumed, or, when it fails, bytes the caller no longer needs.
func (p *Parser) Next(buf []byte) (f Frame, n int, err error) {
	if p.msgOp == 0 {
		if cap(p.frag) > retainLimit {
			p.frag = nil
		}
		if cap(p.out) > retainLimit {
			p.out = nil
		}
	}
	for {
		h, ok, err := p.readHeader(buf[n:])
		if err != nil {
			return Frame{}, 0, err
		}
		if !ok {
			return Frame{}, n, nil
		}
		start := n + h.size
		if uint64(len(buf)-start) < h.length {
			return Frame{}, n, nil
		}
		payload := buf[start : start+int(h.length)]
		n = start + int(h.length)

		if h.op.IsControl() {
			if h.masked {
				MaskBytes(h.key, 0, payload)
			}
			f, err := control(h.op, payload)
			if err != nil {
				return Frame{}, 0, err
			}
			return f, n, nil
		}
		if h.op != OpContinuation && h.fin {
			if h.masked {
				MaskBytes(h.key, 0, payload)
			}
			f, err := p.message(h.op, payload, h.rsv1)
			if err != nil {
				return Frame{}, 0, err
			}
			return f, n, nil
		}
		if h.op != OpContinuation {
			p.msgOp, p.msgCompressed = h.op, h.rsv1
			p.frag = p.frag[:0]
		}
		off := len(p.frag)
		p.frag = append(p.frag, payload...)
		if h.masked {
			MaskBytes(h.key, 0, p.frag[off:])
		}
		if !h.fin {
			continue
		}
		op, compressed := p.msgOp, p.msgCompressed
		p.msgOp, p.msgCompressed = 0, false
		f, err := p.message(op, p.frag, compressed)
		if err != nil {
			return Frame{}, 0, err
		}
		return f, n, nil
	}
}

// header is a decoded frame header.
type header struct {
	op     Opcode
	fin    bool
	rsv1   bool
	masked bool
	key    [4]byte
	length uint64
	size   int // header bytes
}

// readHeader decodes and checks the frame header at the start of b. ok is
// false when b is too short. Each rule is checked as soon as the bytes it
// needs are present, so a bad frame fails without waiting for the rest.
func (p *Parser) readHeader(b []byte) (h header, ok bool, err error) {
	if len(b) < 1 {
		return h, false, nil
	}
	b0 := b[0]
	h.op = Opcode(b0 & 0x0f)
	h.fin = b0&bitFin != 0
	h.rsv1 = b0&bitRSV1 != 0
	if b0&(bitRSV2|bitRSV3) != 0 {
		return h, false, protocolError("RSV2 or RSV3 set")
	}
	switch h.op {
	case OpContinuation:
		if p.msgOp == 0 {
			return h, false, protocolError("continuation frame with no message in progress")
		}
		if h.rsv1 {
			return h, false, protocolError("RSV1 set on a continuation frame")
		}
	case OpText, OpBinary:
		if p.msgOp != 0 {
			return h, false, protocolError("%s frame before the fragmented %s message ended", h.op, p.msgOp)
		}
		if h.rsv1 && !p.Deflate {
			return h, false, protocolError("RSV1 set without permessage-deflate")
		}
	case OpClose, OpPing, OpPong:
		if !h.fin {
			return h, false, protocolError("fragmented %s frame", h.op)
		}
		if h.rsv1 {
			return h, false, protocolError("RSV1 set on a %s frame", h.op)
		}
	default:
		return h, false, protocolError("reserved opcode %#x", byte(h.op))
	}
	if len(b) < 2 {
		return h, false, nil
	}
	b1 := b[1]
	h.masked = b1&bitMasked != 0
	if h.masked == p.Client {
		if p.Client {
			return h, false, protocolError("masked frame from the server")
		}
		return h, false, protocolError("unmasked frame from the client")
	}
	h.length = uint64(b1 & 0x7f)
	h.size = 2
	if h.op.IsControl() && h.length > MaxControlPayload {
		return h, false, protocolError("%s frame with a payload over %d bytes", h.op, MaxControlPayload)
	}
	switch h.length {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		h.length = uint64(binary.BigEndian.Uint16(b[2:]))
		h.size = 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		h.length = binary.BigEndian.Uint64(b[2:])
		h.size = 10
		if h.length>>63 != 0 {
			return h, false, protocolError("64-bit payload length with the top bit set")
		}
	}
	if !h.op.IsControl() {
		total := h.length
		compressed := h.rsv1
		if h.op == OpContinuation {
			total += uint64(len(p.frag))
			compressed = p.msgCompressed
		}
		limit := p.limit()
		wire := uint64(limit)
		if compressed {
			wire += uint64(limit)>>10 + 64
		}
		if total > wire {
			return h, false, tooBig("message of %d bytes or more, at most %d allowed", total, wire)
		}
	}
	if h.masked {
		if len(b) < h.size+4 {
			return h, false, nil
		}
		copy(h.key[:], b[h.size:])
		h.size += 4
	}
	return h, true, nil
}

func (p *Parser) limit() int {
	if p.MaxMessage > 0 {
		return p.MaxMessage
	}
	return DefaultMaxMessage
}

// message finishes a data message: inflate if compressed, check UTF-8 if text.
func (p *Parser) message(op Opcode, payload []byte, compressed bool) (Frame, error) {
	if compressed {
		out, err := Decompress(p.out[:0], payload, p.limit())
		if err != nil {
			if errors.Is(err, ErrTooBig) {
				return Frame{}, &CloseError{Code: CloseTooBig, Reason: "message too big", Err: err}
			}
			return Frame{}, &CloseError{Code: CloseInvalidPayload, Reason: "invalid compressed data", Err: err}
		}
		p.out = out
		payload = out
	}
	if op == OpText && !utf8.Valid(payload) {
		return Frame{}, invalidData("text message is not valid UTF-8")
	}
	return Frame{Op: op, Payload: payload, Compressed: compressed}, nil
}

// control checks a control frame; for a close frame it decodes code and
// reason (RFC 6455 5.5.1, 7.4).
func control(op Opcode, payload []byte) (Frame, error) {
	f := Frame{Op: op, Payload: payload}
	if op != OpClose {
		return f, nil
	}
	switch len(payload) {
	case 0:
		f.CloseCode = CloseNoStatus
		return f, nil
	case 1:
		return Frame{}, protocolError("close frame payload of 1 byte")
	}
	code := binary.BigEndian.Uint16(payload)
	if !ValidCloseCode(code) {
		return Frame{}, protocolError("close code %d may not be sent", code)
	}
	reason := payload[2:]
	if !utf8.Valid(reason) {
		return Frame{}, invalidData("close reason is not valid UTF-8")
	}
	f.CloseCode = code
	f.CloseReason = string(reason)
	return f, nil
}
