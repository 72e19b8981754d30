package ws

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func deflateInputs() map[string][]byte {
	return map[string][]byte{
		"empty":          nil,
		"one byte":       {'a'},
		"json":           []byte(strings.Repeat(`{"event":"chat/room-1","data":{"user":"ann","text":"hello there"}}`, 16)),
		"incompressible": pseudoRandom(100 << 10),
		"zeros 1 MiB":    make([]byte, 1<<20),
		"text 200 KiB":   bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 200<<10/45),
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	for name, in := range deflateInputs() {
		z := Compress([]byte("hdr"), in)
		if string(z[:3]) != "hdr" {
			t.Fatalf("%s: dst prefix lost", name)
		}
		z = z[3:]
		if bytes.HasSuffix(z, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("%s: sync marker not removed", name)
		}
		out, err := Decompress([]byte("x"), z, len(in))
		if err != nil || string(out[:1]) != "x" || !bytes.Equal(out[1:], in) {
			t.Fatalf("%s: round trip: %v (got %d bytes)", name, err, len(out))
		}
		// An independent inflater (the standard library) reads our output
		// once the marker is put back.
		std, err := io.ReadAll(stdflate.NewReader(bytes.NewReader(append(bytes.Clone(z), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff))))
		if err != nil || !bytes.Equal(std, in) {
			t.Fatalf("%s: compress/flate disagrees: %v", name, err)
		}
		// And we read the standard library's deflate.
		var sb bytes.Buffer
		w, _ := stdflate.NewWriter(&sb, stdflate.DefaultCompression)
		w.Write(in)
		w.Flush()
		sz := bytes.TrimSuffix(sb.Bytes(), []byte{0, 0, 0xff, 0xff})
		out, err = Decompress(nil, sz, len(in))
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("%s: reading compress/flate output: %v", name, err)
		}
	}
}

func TestDecompressLimit(t *testing.T) {
	in := make([]byte, 10<<20) // a 10 MiB bomb compresses to about 10 KiB
	z := Compress(nil, in)
	if len(z) > 64<<10 {
		t.Fatalf("test bug: bomb is %d bytes", len(z))
	}
	for _, limit := range []int{0, 1, 1 << 20, len(in) - 1} {
		out, err := Decompress([]byte("keep"), z, limit)
		if !errors.Is(err, ErrTooBig) || string(out) != "keep" || cap(out) > limit+1<<20 {
			t.Fatalf("limit %d: err %v, out %d bytes (cap %d)", limit, err, len(out), cap(out))
		}
	}
	if out, err := Decompress(nil, z, len(in)); err != nil || len(out) != len(in) {
		t.Fatalf("exact limit: %v", err)
	}
	// Extreme limits neither overflow nor panic.
	if out, err := Decompress(nil, z, math.MaxInt); err != nil || len(out) != len(in) {
		t.Fatalf("MaxInt limit: %v", err)
	}
	if _, err := Decompress(nil, z, -5); !errors.Is(err, ErrTooBig) {
		t.Fatalf("negative limit: %v", err)
	}
	// Empty message with a zero limit.
	if out, err := Decompress(nil, Compress(nil, nil), 0); err != nil || len(out) != 0 {
		t.Fatalf("empty: %v", err)
	}
}

func TestDecompressCorrupt(t *testing.T) {
	good := Compress(nil, []byte(strings.Repeat("hello world ", 100)))
	cases := map[string][]byte{
		"garbage":   {0xff, 0xff, 0xff, 0xff},
		"reserved":  {0x07}, // BTYPE 11
		"truncated": good[:len(good)/2],
	}
	for name, z := range cases {
		out, err := Decompress([]byte("p"), z, 1<<20)
		if !errors.Is(err, ErrInvalidData) || string(out) != "p" || !strings.HasPrefix(err.Error(), "ws: ") {
			t.Fatalf("%s: want ErrInvalidData, got %v", name, err)
		}
	}
}

func TestCompressConcurrent(t *testing.T) {
	in := deflateInputs()["json"]
	want := Compress(nil, in)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				z := Compress(nil, in)
				if !bytes.Equal(z, want) {
					done <- errors.New("compress output differs")
					return
				}
				out, err := Decompress(nil, z, len(in))
				if err != nil || !bytes.Equal(out, in) {
					done <- errors.New("round trip failed")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
