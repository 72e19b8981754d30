package ws

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/klauspost/compress/flate"
)

// CompressionLevel is the deflate level Compress uses: the fastest, which
// suits small realtime messages (a higher level buys a few percent on JSON
// for several times the CPU).
const CompressionLevel = flate.BestSpeed

// deflateTail ends a message for the inflater: the 00 00 ff ff that
// Compress strips (RFC 7692 7.2.2), then an empty final stored block so the
// inflater reports io.EOF instead of waiting for more input.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

type compressor struct {
	fw  *flate.Writer
	out appendWriter
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var compressors = sync.Pool{New: func() any {
	c := new(compressor)
	fw, err := flate.NewWriter(&c.out, CompressionLevel)
	if err != nil {
		panic(err) // unreachable: the level is a valid constant
	}
	c.fw = fw
	return c
}}

// Compress appends payload compressed as one permessage-deflate message:
// raw deflate on a fresh window (no context takeover), sync-flushed, with the
// trailing 00 00 ff ff removed (RFC 7692 7.2.1). The result goes out in a
// frame with RSV1 set. Safe for concurrent use; writers are pooled, so it
// allocates only when dst must grow.
func Compress(dst, payload []byte) []byte {
	c := compressors.Get().(*compressor)
	start := len(dst)
	c.out.b = dst
	c.fw.Reset(&c.out)
	// Writes to an appendWriter cannot fail, so neither can the flate writer.
	_, _ = c.fw.Write(payload)
	_ = c.fw.Flush()
	out := c.out.b
	c.out.b = nil
	compressors.Put(c)
	if len(out)-start >= 4 {
		out = out[:len(out)-4]
	}
	return out
}

type decompressor struct {
	fr  io.ReadCloser // implements flate.Resetter
	src tailReader
}

// tailReader reads a compressed message followed by deflateTail without
// copying either. It implements io.ByteReader so the inflater does not wrap
// it in a bufio.Reader.
type tailReader struct {
	data []byte
	tail []byte
}

func (r *tailReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	if len(r.tail) > 0 {
		n := copy(p, r.tail)
		r.tail = r.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

func (r *tailReader) ReadByte() (byte, error) {
	if len(r.data) > 0 {
		c := r.data[0]
		r.data = r.data[1:]
		return c, nil
	}
	if len(r.tail) > 0 {
		c := r.tail[0]
		r.tail = r.tail[1:]
		return c, nil
	}
	return 0, io.EOF
}

var decompressors = sync.Pool{New: func() any {
	d := new(decompressor)
	d.fr = flate.NewReader(&d.src)
	return d
}}

// Decompress appends the inflated form of one permessage-deflate message
// (as Compress produces it, the trailing 00 00 ff ff absent) to dst. It stops
// and returns an error wrapping ErrTooBig as soon as the output would exceed
// limit bytes, so a small inflate bomb never expands past limit+1 bytes. Corrupt
// input returns an error wrapping ErrInvalidData. On error dst is returned
// with its original length. Safe for concurrent use; inflaters are pooled.
func Decompress(dst, compressed []byte, limit int) ([]byte, error) {
	d := decompressors.Get().(*decompressor)
	defer func() {
		d.src = tailReader{}
		decompressors.Put(d)
	}()
	d.src = tailReader{data: compressed, tail: deflateTail}
	if err := d.fr.(flate.Resetter).Reset(&d.src, nil); err != nil {
		return dst, fmt.Errorf("%w: inflate reset: %v", ErrInvalidData, err)
	}
	limit = min(max(limit, 0), math.MaxInt-1) // limit+1 must not overflow
	start := len(dst)
	for {
		produced := len(dst) - start
		if produced > limit {
			return dst[:start], fmt.Errorf("%w: inflated message exceeds %d bytes", ErrTooBig, limit)
		}
		if len(dst) == cap(dst) {
			grow := max(512, produced)
			if rest := limit + 1 - produced; grow > rest {
				grow = rest
			}
			dst = slices.Grow(dst, grow)
		}
		room := dst[len(dst):cap(dst)]
		if rest := limit + 1 - produced; len(room) > rest {
			room = room[:rest]
		}
		n, err := d.fr.Read(room)
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			if len(dst)-start > limit {
				return dst[:start], fmt.Errorf("%w: inflated message exceeds %d bytes", ErrTooBig, limit)
			}
			return dst, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("truncated deflate stream")
			}
			return dst[:start], fmt.Errorf("%w: inflate: %v", ErrInvalidData, err)
		}
	}
}
