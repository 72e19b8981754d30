package frame

import (
	"bytes"
	"errors"
	"testing"
)

func TestByteByByte(t *testing.T) {
	var stream []byte
	payloads := [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{7}, 300)}
	for _, p := range payloads {
		stream = Append(stream, p)
	}
	// Feed one byte at a time; a frame appears exactly when its last byte arrives.
	var buf []byte
	var got [][]byte
	for i := 0; i < len(stream); i++ {
		buf = append(buf, stream[i])
		for {
			p, n, err := Next(buf, 1024)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			got = append(got, append([]byte(nil), p...))
			buf = buf[n:]
		}
	}
	if len(buf) != 0 || len(got) != len(payloads) {
		t.Fatalf("got %d frames, %d bytes left", len(got), len(buf))
	}
	for i := range payloads {
		if !bytes.Equal(got[i], payloads[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

func TestTooLarge(t *testing.T) {
	buf := AppendHeader(nil, 1025)
	if _, _, err := Next(buf, 1024); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
	buf = AppendHeader(nil, 0xffffffff)
	if _, _, err := Next(buf, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge for 4 GiB, got %v", err)
	}
}

func FuzzNext(f *testing.F) {
	f.Add(Append(Append(nil, []byte("abc")), []byte("de")), 3)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 0)
	f.Fuzz(func(t *testing.T, stream []byte, split int) {
		// Parsing the whole stream and parsing it in two pieces must agree.
		whole := parseAll(t, [][]byte{stream})
		if split < 0 {
			split = -split
		}
		if len(stream) > 0 {
			split %= len(stream) + 1
		} else {
			split = 0
		}
		parts := parseAll(t, [][]byte{stream[:split], stream[split:]})
		if len(whole) != len(parts) {
			t.Fatalf("whole %d frames, split %d", len(whole), len(parts))
		}
		for i := range whole {
			if !bytes.Equal(whole[i], parts[i]) {
				t.Fatalf("frame %d differs", i)
			}
			// encode -> decode round trip
			p, n, err := Next(Append(nil, whole[i]), 1<<16)
			if err != nil || n != len(whole[i])+HeaderSize || !bytes.Equal(p, whole[i]) {
				t.Fatal("round trip failed")
			}
		}
	})
}

func parseAll(t *testing.T, chunks [][]byte) [][]byte {
	var buf []byte
	var out [][]byte
	for _, c := range chunks {
		buf = append(buf, c...)
		for {
			p, n, err := Next(buf, 1<<16)
			if err != nil || n == 0 {
				break
			}
			out = append(out, append([]byte(nil), p...))
			buf = buf[n:]
		}
	}
	return out
}
