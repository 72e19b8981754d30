package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// got is a Frame copied out of the parser's or the input's memory.
type got struct {
	Op          Opcode
	Payload     string
	Compressed  bool
	CloseCode   uint16
	CloseReason string
}

func copyFrame(f Frame) got {
	return got{f.Op, string(f.Payload), f.Compressed, f.CloseCode, f.CloseReason}
}

// feed runs p over chunks the way an event loop does: append what arrived,
// take frames until Next needs more, keep the rest. It returns the frames,
// the first error and the bytes left over.
func feed(p *Parser, chunks ...[]byte) (frames []got, rest []byte, err error) {
	var buf []byte
	for _, c := range chunks {
		buf = append(buf, c...)
		for {
			f, n, err := p.Next(buf)
			if err != nil {
				return frames, buf, err
			}
			if n == 0 {
				break
			}
			if f.Op != OpContinuation {
				frames = append(frames, copyFrame(f))
			}
			buf = buf[n:]
		}
	}
	return frames, buf, nil
}

func closeCode(err error) uint16 {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func TestRFCExamples(t *testing.T) {
	hello := "Hello"
	big256 := bytes.Repeat([]byte{0xab}, 256)
	big64k := bytes.Repeat([]byte{0xcd}, 65536)
	cases := []struct {
		name   string
		client bool
		wire   []byte
		want   []got
	}{
		{"unmasked text", true, []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, []got{{Op: OpText, Payload: hello}}},
		{"masked text", false, []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, []got{{Op: OpText, Payload: hello}}},
		{"fragmented text", true, []byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}, []got{{Op: OpText, Payload: hello}}},
		{"unmasked ping", true, []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, []got{{Op: OpPing, Payload: hello}}},
		{"masked pong", false, []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, []got{{Op: OpPong, Payload: hello}}},
		{"256 bytes, 16-bit length", true, append([]byte{0x82, 0x7e, 0x01, 0x00}, big256...), []got{{Op: OpBinary, Payload: string(big256)}}},
		{"64 KiB, 64-bit length", true, append([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, big64k...), []got{{Op: OpBinary, Payload: string(big64k)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Whole, then byte by byte: same frames, nothing left over.
			for _, bytewise := range []bool{false, true} {
				wire := bytes.Clone(c.wire)
				chunks := [][]byte{wire}
				if bytewise {
					chunks = nil
					for i := range wire {
						chunks = append(chunks, wire[i:i+1])
					}
				}
				p := &Parser{Client: c.client}
				frames, rest, err := feed(p, chunks...)
				if err != nil || len(rest) != 0 || !equalFrames(frames, c.want) {
					t.Fatalf("bytewise=%v: frames %v rest %d err %v", bytewise, short(frames), len(rest), err)
				}
			}
			// Our encoder produces the same bytes.
			if c.name == "masked text" {
				if enc := AppendFrame(nil, OpText, []byte(hello), false, &testMask); !bytes.Equal(enc, c.wire) {
					t.Fatalf("AppendFrame = % x", enc)
				}
			}
			if c.name == "64 KiB, 64-bit length" {
				if enc := AppendFrame(nil, OpBinary, big64k, false, nil); !bytes.Equal(enc, c.wire) {
					t.Fatal("AppendFrame differs for 64 KiB")
				}
			}
		})
	}
}

func equalFrames(a, b []got) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func short(fs []got) []got {
	out := make([]got, len(fs))
	for i, f := range fs {
		if len(f.Payload) > 16 {
			f.Payload = f.Payload[:16] + "..."
		}
		out[i] = f
	}
	return out
}

// TestByteByByteState feeds a stream one byte at a time and checks, after
// every byte, what Next reports and what the parser holds.
func TestByteByByteState(t *testing.T) {
	type step struct {
		wire     []byte
		frame    *got // delivered when the frame's last byte arrives
		buffered int  // Parser.Buffered() after the frame's last byte
	}
	m := &testMask
	steps := []step{
		{AppendFrame(nil, OpBinary, []byte("one"), false, m), &got{Op: OpBinary, Payload: "one"}, 0},
		{AppendHeader(nil, OpText, 0, false, false, m), nil, 0}, // empty first fragment
		{append(AppendHeader(nil, OpContinuation, 4, false, false, m), maskedCopy([]byte("frag"))...), nil, 4},
		{AppendFrame(nil, OpPing, []byte("p"), false, m), &got{Op: OpPing, Payload: "p"}, 4},
		{append(AppendHeader(nil, OpContinuation, 5, true, false, m), maskedCopy([]byte("ment!"))...), &got{Op: OpText, Payload: "fragment!"}, 0},
		{AppendClose(nil, CloseGoingAway, "bye", m), &got{Op: OpClose, Payload: "\x03\xe9bye", CloseCode: CloseGoingAway, CloseReason: "bye"}, 0},
	}
	p := &Parser{}
	var buf []byte
	for si, s := range steps {
		for i, b := range s.wire {
			buf = append(buf, b)
			f, n, err := p.Next(buf)
			if err != nil {
				t.Fatalf("step %d byte %d: %v", si, i, err)
			}
			last := i == len(s.wire)-1
			if !last {
				if n != 0 {
					t.Fatalf("step %d byte %d: consumed %d before the frame ended", si, i, n)
				}
				continue
			}
			if n != len(buf) {
				t.Fatalf("step %d: consumed %d of %d", si, n, len(buf))
			}
			buf = buf[n:]
			if s.frame == nil {
				if f.Op != OpContinuation || f.Payload != nil {
					t.Fatalf("step %d: delivered %v for a non-final fragment", si, f)
				}
			} else if copyFrame(f) != *s.frame {
				t.Fatalf("step %d: frame %+v, want %+v", si, copyFrame(f), *s.frame)
			}
			if p.Buffered() != s.buffered {
				t.Fatalf("step %d: Buffered = %d, want %d", si, p.Buffered(), s.buffered)
			}
		}
	}
}

func maskedCopy(b []byte) []byte {
	c := bytes.Clone(b)
	MaskBytes(testMask, 0, c)
	return c
}

func TestFragmentsAndControlInterleaved(t *testing.T) {
	for _, client := range []bool{false, true} {
		var m *[4]byte
		if !client {
			m = &testMask
		}
		var wire []byte
		wire = appendFragments(wire, OpBinary, []byte("abcdefghij"), 3, false, m)
		// Pings between every fragment of the next message.
		msg := []byte("0123456789")
		for i := 0; i < len(msg); i += 2 {
			op := OpText
			if i > 0 {
				op = OpContinuation
			}
			wire = append(AppendHeader(wire, op, 2, i+2 >= len(msg), false, m), msg[i:i+2]...)
			if m != nil {
				MaskBytes(*m, 0, wire[len(wire)-2:])
			}
			if i+2 < len(msg) {
				wire = AppendFrame(wire, OpPing, []byte{byte('a' + i)}, false, m)
			}
		}
		frames, rest, err := feed(&Parser{Client: client}, wire)
		want := []got{
			{Op: OpBinary, Payload: "abcdefghij"},
			{Op: OpPing, Payload: "a"}, {Op: OpPing, Payload: "c"}, {Op: OpPing, Payload: "e"}, {Op: OpPing, Payload: "g"},
			{Op: OpText, Payload: "0123456789"},
		}
		if err != nil || len(rest) != 0 || !equalFrames(frames, want) {
			t.Fatalf("client=%v: %v rest %d err %v", client, frames, len(rest), err)
		}
	}
}

// appendFragments writes msg as frames of at most size bytes.
func appendFragments(dst []byte, op Opcode, msg []byte, size int, compressed bool, mask *[4]byte) []byte {
	first := true
	for {
		n := min(size, len(msg))
		fin := n == len(msg)
		fop := OpContinuation
		if first {
			fop = op
		}
		dst = AppendHeader(dst, fop, n, fin, compressed && first, mask)
		start := len(dst)
		dst = append(dst, msg[:n]...)
		if mask != nil {
			MaskBytes(*mask, 0, dst[start:])
		}
		msg = msg[n:]
		first = false
		if fin {
			return dst
		}
	}
}

func TestUnfragmentedPayloadAliasesInput(t *testing.T) {
	wire := AppendFrame(nil, OpBinary, []byte("in place"), false, &testMask)
	f, n, err := (&Parser{}).Next(wire)
	if err != nil || n != len(wire) || string(f.Payload) != "in place" {
		t.Fatalf("%v %d %v", f, n, err)
	}
	if &f.Payload[0] != &wire[6] {
		t.Fatal("payload of a single uncompressed frame was copied")
	}
}

func TestProtocolErrors(t *testing.T) {
	m := &testMask
	hdr := func(b0, b1 byte) []byte { return []byte{b0, b1 | 0x80, 1, 2, 3, 4} }
	startText := AppendHeader(nil, OpText, 0, false, false, m)
	cases := []struct {
		name   string
		client bool
		wire   []byte
		code   uint16
		// failAt is how many bytes of wire the error needs: it must be
		// reported as soon as those have arrived.
		failAt int
	}{
		{"opcode 3", false, hdr(0x83, 0), CloseProtocolError, 1},
		{"opcode 7", false, hdr(0x87, 0), CloseProtocolError, 1},
		{"opcode 0xB", false, hdr(0x8b, 0), CloseProtocolError, 1},
		{"opcode 0xF", false, hdr(0x8f, 0), CloseProtocolError, 1},
		{"RSV1 without deflate", false, hdr(0xc2, 0), CloseProtocolError, 1},
		{"RSV2", false, hdr(0xa2, 0), CloseProtocolError, 1},
		{"RSV3", false, hdr(0x92, 0), CloseProtocolError, 1},
		{"RSV1 on ping", false, hdr(0xc9, 0), CloseProtocolError, 1},
		{"fragmented ping", false, hdr(0x09, 0), CloseProtocolError, 1},
		{"fragmented close", false, hdr(0x08, 0), CloseProtocolError, 1},
		{"continuation first", false, hdr(0x80, 0), CloseProtocolError, 1},
		{"text inside text", false, append(bytes.Clone(startText), hdr(0x81, 0)...), CloseProtocolError, len(startText) + 1},
		{"binary inside text", false, append(bytes.Clone(startText), hdr(0x02, 0)...), CloseProtocolError, len(startText) + 1},
		{"unmasked from client", false, []byte{0x82, 0x00}, CloseProtocolError, 2},
		{"masked from server", true, hdr(0x82, 0), CloseProtocolError, 2},
		{"ping of 126 bytes", false, []byte{0x89, 0xfe, 0, 126}, CloseProtocolError, 2},
		{"close of 127 length code", false, []byte{0x88, 0xff}, CloseProtocolError, 2},
		{"64-bit length top bit", true, []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, CloseProtocolError, 10},
		{"close of 1 byte", false, AppendFrame(nil, OpClose, []byte{3}, false, m), CloseProtocolError, 7},
		{"text not utf-8", false, AppendFrame(nil, OpText, []byte{0xff, 'a'}, false, m), CloseInvalidPayload, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for have := 0; have <= len(c.wire); have++ {
				p := &Parser{Client: c.client}
				_, _, err := feed(p, bytes.Clone(c.wire[:have]))
				if have < c.failAt {
					if err != nil {
						t.Fatalf("%d bytes: early error %v", have, err)
					}
					continue
				}
				if closeCode(err) != c.code {
					t.Fatalf("%d bytes: want close %d, got %v", have, c.code, err)
				}
				want := ErrProtocol
				if c.code == CloseInvalidPayload {
					want = ErrInvalidData
				}
				if !errors.Is(err, want) || !strings.HasPrefix(err.Error(), "ws: ") {
					t.Fatalf("error %q does not wrap %v", err, want)
				}
			}
		})
	}
}

func TestCloseCodes(t *testing.T) {
	valid := []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []uint16{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	closeFrame := func(code uint16, reason []byte) []byte {
		payload := binary.BigEndian.AppendUint16(nil, code)
		return AppendFrame(nil, OpClose, append(payload, reason...), false, &testMask)
	}
	for _, code := range valid {
		if !ValidCloseCode(code) {
			t.Errorf("ValidCloseCode(%d) = false", code)
		}
		frames, _, err := feed(&Parser{}, closeFrame(code, []byte("why")))
		if err != nil || len(frames) != 1 || frames[0].CloseCode != code || frames[0].CloseReason != "why" {
			t.Errorf("code %d: %v %v", code, frames, err)
		}
	}
	for _, code := range invalid {
		if ValidCloseCode(code) {
			t.Errorf("ValidCloseCode(%d) = true", code)
		}
		if _, _, err := feed(&Parser{}, closeFrame(code, nil)); closeCode(err) != CloseProtocolError {
			t.Errorf("code %d: want 1002, got %v", code, err)
		}
	}
	// Empty close: no status.
	frames, _, err := feed(&Parser{}, AppendFrame(nil, OpClose, nil, false, &testMask))
	if err != nil || frames[0].CloseCode != CloseNoStatus || frames[0].CloseReason != "" {
		t.Fatalf("empty close: %v %v", frames, err)
	}
	// Reason must be UTF-8; the longest reason fits.
	if _, _, err := feed(&Parser{}, closeFrame(1000, []byte{0xce, 0xba, 0xe1})); closeCode(err) != CloseInvalidPayload {
		t.Fatalf("bad reason: %v", err)
	}
	long := strings.Repeat("é", 62) // 124 bytes: one too many
	wire := AppendClose(nil, 4000, long, &testMask)
	frames, _, err = feed(&Parser{}, wire)
	if err != nil || len(frames[0].CloseReason) != 122 || !utf8.ValidString(frames[0].CloseReason) {
		t.Fatalf("AppendClose did not cut the reason at a rune: %d bytes, %v", len(frames[0].CloseReason), err)
	}
	wire = AppendClose(nil, 4000, strings.Repeat("r", 200), nil)
	if len(wire) != 2+MaxControlPayload {
		t.Fatalf("AppendClose wrote %d bytes", len(wire))
	}
	// Codes that are never sent turn into an empty close.
	for _, code := range []uint16{0, CloseNoStatus, CloseAbnormal, CloseTLSHandshake} {
		if wire := AppendClose(nil, code, "x", nil); !bytes.Equal(wire, []byte{0x88, 0}) {
			t.Errorf("AppendClose(%d) = % x", code, wire)
		}
	}
}

func TestUTF8AcrossFragments(t *testing.T) {
	euro := []byte("€uro") // e2 82 ac
	wire := appendFragments(nil, OpText, euro, 1, false, &testMask)
	frames, _, err := feed(&Parser{}, wire)
	if err != nil || frames[0].Payload != "€uro" {
		t.Fatalf("%v %v", frames, err)
	}
	// Binary messages are not checked.
	if _, _, err := feed(&Parser{}, AppendFrame(nil, OpBinary, []byte{0xff}, false, &testMask)); err != nil {
		t.Fatal(err)
	}
	// Invalid text split over fragments fails when the message completes.
	wire = appendFragments(nil, OpText, []byte{'a', 0xe2, 0x82}, 1, false, &testMask)
	if _, _, err := feed(&Parser{}, wire); closeCode(err) != CloseInvalidPayload {
		t.Fatalf("want 1007, got %v", err)
	}
}

func TestMaxMessage(t *testing.T) {
	const max = 100
	// Exactly max is fine, with each length encoding.
	for _, client := range []bool{false, true} {
		var m *[4]byte
		if !client {
			m = &testMask
		}
		msg := bytes.Repeat([]byte{'x'}, max)
		if frames, _, err := feed(&Parser{MaxMessage: max, Client: client}, AppendFrame(nil, OpBinary, msg, false, m)); err != nil || len(frames) != 1 {
			t.Fatalf("max-sized message: %v", err)
		}
	}
	cases := []struct {
		name   string
		header []byte
	}{
		{"16-bit length", AppendHeader(nil, OpBinary, max+1, true, false, &testMask)},
		{"64-bit length", AppendHeader(nil, OpBinary, 1<<40, true, false, &testMask)},
		{"64-bit length, no mask key yet", AppendHeader(nil, OpBinary, 1<<40, true, false, &testMask)[:10]},
		{"fragments adding up", append(appendFragments(nil, OpText, bytes.Repeat([]byte{'y'}, 60), 60, false, &testMask)[:66],
			AppendHeader(nil, OpContinuation, 41, true, false, &testMask)...)},
	}
	// The first data frame of "fragments adding up" lacks FIN: fix it up.
	cases[3].header[0] &^= bitFin
	for _, c := range cases {
		// Only the header is there: the payload never has to arrive.
		_, _, err := feed(&Parser{MaxMessage: max}, c.header)
		if closeCode(err) != CloseTooBig || !errors.Is(err, ErrTooBig) {
			t.Fatalf("%s: want 1009, got %v", c.name, err)
		}
	}
	// A limit near MaxInt: huge announced lengths wait for bytes that
	// never come rather than overflow.
	for _, deflate := range []bool{false, true} {
		p := &Parser{MaxMessage: math.MaxInt, Deflate: deflate}
		hdr := AppendHeader(nil, OpBinary, math.MaxInt, true, deflate, &testMask)
		if _, n, err := p.Next(append(hdr, 1, 2, 3)); n != 0 || err != nil {
			t.Fatalf("MaxInt length: n=%d err=%v", n, err)
		}
		hdr = AppendHeader(nil, OpBinary, 0, false, deflate, &testMask)
		hdr = append(hdr, AppendHeader(nil, OpContinuation, math.MaxInt, true, false, &testMask)...)
		if _, n, err := p.Next(hdr); n != 6 || err != nil {
			t.Fatalf("MaxInt continuation: n=%d err=%v", n, err)
		}
	}
	// Zero means the default.
	if _, _, err := feed(&Parser{}, AppendHeader(nil, OpBinary, DefaultMaxMessage+1, true, false, &testMask)); closeCode(err) != CloseTooBig {
		t.Fatalf("default limit: %v", err)
	}
}

func TestCompressedMessages(t *testing.T) {
	text := []byte(strings.Repeat(`{"name":"price/EURUSD","data":{"bid":1.0842,"ask":1.0844}}`, 20))
	z := Compress(nil, text)
	var wire []byte
	wire = AppendFrame(wire, OpText, z, true, &testMask)
	wire = appendFragments(wire, OpBinary, z, 7, true, &testMask)
	// A ping in the middle of a compressed fragmented message.
	two := appendFragments(nil, OpText, z, len(z)/2+1, true, &testMask)
	first := bytes.Clone(two[:frameLen(two)])
	wire = append(wire, first...)
	wire = AppendFrame(wire, OpPing, []byte("!"), false, &testMask)
	wire = append(wire, two[len(first):]...)
	wire = AppendFrame(wire, OpBinary, Compress(nil, nil), true, &testMask) // empty message
	wire = AppendFrame(wire, OpBinary, []byte("plain"), false, &testMask)   // uncompressed in between is fine
	want := []got{
		{Op: OpText, Payload: string(text), Compressed: true},
		{Op: OpBinary, Payload: string(text), Compressed: true},
		{Op: OpPing, Payload: "!"},
		{Op: OpText, Payload: string(text), Compressed: true},
		{Op: OpBinary, Payload: "", Compressed: true},
		{Op: OpBinary, Payload: "plain"},
	}
	for _, bytewise := range []bool{false, true} {
		chunks := [][]byte{bytes.Clone(wire)}
		if bytewise {
			chunks = nil
			w := bytes.Clone(wire)
			for i := range w {
				chunks = append(chunks, w[i:i+1])
			}
		}
		frames, rest, err := feed(&Parser{Deflate: true}, chunks...)
		if err != nil || len(rest) != 0 || !equalFrames(frames, want) {
			t.Fatalf("bytewise=%v: %v rest %d err %v", bytewise, short(frames), len(rest), err)
		}
	}
	// Inflate bomb: a tiny message that inflates past MaxMessage.
	bomb := Compress(nil, make([]byte, 1<<20))
	_, _, err := feed(&Parser{Deflate: true, MaxMessage: 4096}, AppendFrame(nil, OpBinary, bomb, true, &testMask))
	if closeCode(err) != CloseTooBig {
		t.Fatalf("bomb: want 1009, got %v", err)
	}
	// Garbage with RSV1 set.
	_, _, err = feed(&Parser{Deflate: true}, AppendFrame(nil, OpBinary, []byte{0xff, 0xff, 0xff}, true, &testMask))
	if closeCode(err) != CloseInvalidPayload || !errors.Is(err, ErrInvalidData) {
		t.Fatalf("corrupt: want 1007, got %v", err)
	}
	// Invalid UTF-8 detected after inflating.
	_, _, err = feed(&Parser{Deflate: true}, AppendFrame(nil, OpText, Compress(nil, []byte{0xc0, 0x80}), true, &testMask))
	if closeCode(err) != CloseInvalidPayload {
		t.Fatalf("compressed bad UTF-8: %v", err)
	}
	// RSV1 on a continuation frame.
	bad := append(AppendHeader(nil, OpText, 0, false, true, &testMask), AppendHeader(nil, OpContinuation, 0, true, true, &testMask)...)
	if _, _, err := feed(&Parser{Deflate: true}, bad); closeCode(err) != CloseProtocolError {
		t.Fatalf("RSV1 on continuation: %v", err)
	}
	// The wire size of a compressed message may exceed MaxMessage slightly.
	noise := pseudoRandom(4000)
	zn := Compress(nil, noise)
	if len(zn) <= len(noise) {
		t.Fatalf("test bug: noise compressed to %d", len(zn))
	}
	if frames, _, err := feed(&Parser{Deflate: true, MaxMessage: len(noise)}, AppendFrame(nil, OpBinary, zn, true, &testMask)); err != nil || frames[0].Payload != string(noise) {
		t.Fatalf("incompressible max-sized message: %v", err)
	}
}

// frameLen returns the size of the (masked) frame at the start of b.
func frameLen(b []byte) int {
	h, ok, err := (&Parser{Deflate: true}).readHeader(b)
	if !ok || err != nil {
		panic("frameLen: bad frame")
	}
	return h.size + int(h.length)
}

func pseudoRandom(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestParserReleasesLargeBuffers(t *testing.T) {
	p := &Parser{}
	big := bytes.Repeat([]byte{'z'}, 200<<10)
	f, n, err := p.Next(appendFragments(nil, OpBinary, big, 64<<10, false, &testMask))
	if err != nil || n == 0 || len(f.Payload) != len(big) || cap(p.frag) < len(big) {
		t.Fatalf("%v cap %d", err, cap(p.frag))
	}
	if _, _, err := p.Next(AppendFrame(nil, OpPing, nil, false, &testMask)); err != nil {
		t.Fatal(err)
	}
	if p.frag != nil {
		t.Fatalf("kept a %d-byte buffer after the message", cap(p.frag))
	}
	// Small buffers are kept for reuse.
	p.Next(appendFragments(nil, OpBinary, []byte("abcdef"), 2, false, &testMask))
	p.Next(AppendFrame(nil, OpPing, nil, false, &testMask))
	if cap(p.frag) == 0 {
		t.Fatal("small buffer not reused")
	}
	p.Reset()
	if p.frag != nil || p.Buffered() != 0 {
		t.Fatal("Reset kept state")
	}
}
