package ws

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestAppendHeaderLengths(t *testing.T) {
	cases := []struct {
		length int
		size   int // header bytes without mask
		code   byte
	}{
		{0, 2, 0}, {1, 2, 1}, {125, 2, 125},
		{126, 4, 126}, {65535, 4, 126},
		{65536, 10, 127}, {1 << 33, 10, 127},
	}
	for _, c := range cases {
		for _, mask := range []*[4]byte{nil, &testMask} {
			h := AppendHeader([]byte{0xee}, OpBinary, c.length, true, false, mask)[1:]
			want := c.size
			if mask != nil {
				want += 4
			}
			if len(h) != want || h[0] != 0x82 || h[1]&0x7f != c.code || (h[1]&0x80 != 0) != (mask != nil) {
				t.Fatalf("length %d mask %v: % x", c.length, mask != nil, h)
			}
			var got uint64
			switch c.code {
			case 126:
				got = uint64(binary.BigEndian.Uint16(h[2:]))
			case 127:
				got = binary.BigEndian.Uint64(h[2:])
			default:
				got = uint64(c.code)
			}
			if got != uint64(c.length) {
				t.Fatalf("length %d encoded as %d", c.length, got)
			}
			if mask != nil && !bytes.Equal(h[len(h)-4:], mask[:]) {
				t.Fatal("mask key not written")
			}
			// The parser reads the header back (as the matching side).
			p := &Parser{Client: mask == nil, MaxMessage: 1 << 34}
			hd, ok, err := p.readHeader(h)
			if err != nil || !ok || hd.length != uint64(c.length) || hd.size != len(h) || hd.op != OpBinary || !hd.fin {
				t.Fatalf("readHeader: %+v %v %v", hd, ok, err)
			}
		}
	}
	// Flags.
	if h := AppendHeader(nil, OpText, 0, false, true, nil); h[0] != 0x41 {
		t.Fatalf("non-final compressed text: %#x", h[0])
	}
	if h := AppendHeader(nil, OpContinuation, 0, true, false, nil); h[0] != 0x80 {
		t.Fatalf("final continuation: %#x", h[0])
	}
}

func TestAppendFrameKeepsPayload(t *testing.T) {
	payload := []byte("do not touch")
	wire := AppendFrame([]byte("pre"), OpBinary, payload, false, &testMask)
	if string(payload) != "do not touch" || string(wire[:3]) != "pre" {
		t.Fatal("AppendFrame modified its input or dst prefix")
	}
	if bytes.Contains(wire, payload) {
		t.Fatal("payload not masked")
	}
}

func maskNaive(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{0x01, 0x23, 0x45, 0x67}
	src := pseudoRandom(300)
	for size := 0; size <= 80; size++ {
		for pos := 0; pos < 8; pos++ {
			// Unaligned start inside a larger buffer too.
			for off := 0; off < 3; off++ {
				got := bytes.Clone(src[:size+off])[off:]
				want := bytes.Clone(got)
				end := MaskBytes(key, pos, got)
				maskNaive(key, pos, want)
				if !bytes.Equal(got, want) || end != (pos+size)%4 {
					t.Fatalf("size %d pos %d off %d: end %d", size, pos, off, end)
				}
				// Masking twice restores the input.
				MaskBytes(key, pos, got)
				if !bytes.Equal(got, src[off:off+size]) {
					t.Fatalf("size %d pos %d: round trip failed", size, pos)
				}
			}
		}
	}
	// Masking in two pieces, split anywhere, equals masking at once.
	whole := bytes.Clone(src)
	MaskBytes(key, 0, whole)
	for split := 0; split <= len(src); split++ {
		b := bytes.Clone(src)
		pos := MaskBytes(key, 0, b[:split])
		MaskBytes(key, pos, b[split:])
		if !bytes.Equal(b, whole) {
			t.Fatalf("split at %d differs", split)
		}
	}
}
