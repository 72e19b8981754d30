package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"
)

// Value encoding: uvarint(version) | encoding byte | body.
//
// Encodings:
//
//	encRaw (0): body is the JSON document as given.
//	encS2  (1): body is one S2 block (klauspost/compress/s2.Encode) of it.
//
// Values of at least compressMin bytes (and at most maxCompressed) are
// S2-compressed, and the result is kept only when it is at most 7/8 of the
// original: the rest are stored raw. Pebble still compresses its blocks
// (Snappy) underneath; S2 on top shrinks the WAL and the memtable, which
// Pebble does not compress, so a synced batch writes fewer bytes.
//
// Why S2 from 512 bytes, measured on storetest.SampleJSON (realistic record
// JSON: a profile, a position, tags and chat-like items) by
// BenchmarkCompression on the 2-core AMD EPYC development machine:
//
//	size     codec          stored size  encode     decode
//	200 B    s2             101.8 %      172 ns     15 ns
//	200 B    zstd fastest   105.5 %      381 ns     134 ns
//	2 KiB    s2             50.1 %       1.9 µs     0.50 µs
//	2 KiB    s2 better      50.8 %       3.0 µs     0.46 µs
//	2 KiB    zstd fastest   41.3 %       10.0 µs    6.7 µs
//	50 KiB   s2             35.6 %       84 µs      26 µs
//	50 KiB   s2 better      32.0 %       112 µs     12 µs
//	50 KiB   zstd fastest   24.4 %       208 µs     51 µs
//
// Mean S2 ratio by size over 50 samples: 200 B 102 %, 300 B 99 %, 400 B
// 92 %, 512 B 78 %, 1 KiB 62 %, 2 KiB 51 %, 8 KiB 41 %, 50 KiB 35 %. Below
// 512 bytes the saving is too small to pay for the work; zstd saves another
// 10 points at 5x the encode time and 4-13x the decode time, all of it on
// the single writer goroutine or on a read miss, so S2 it is. Neither needs
// a pool: only the writer goroutine encodes, and S2 decoding is stateless.
const (
	encRaw = 0
	encS2  = 1

	compressMin   = 512
	maxCompressed = 64 << 20 // larger values are stored raw; decoding refuses larger claims
)

var errCorrupt = errors.New("store/pebble: corrupt value")

// appendValue appends the encoding of version and data to dst.
func appendValue(dst []byte, version int64, data []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(version))
	if len(data) >= compressMin && len(data) <= maxCompressed {
		start := len(dst)
		need := start + 1 + s2.MaxEncodedLen(len(data))
		dst = slices.Grow(dst, need-start)[:need]
		dst[start] = encS2
		enc := s2.Encode(dst[start+1:], data)
		if len(enc) <= len(data)-len(data)/8 {
			return dst[:start+1+len(enc)]
		}
		dst = dst[:start]
	}
	dst = append(dst, encRaw)
	return append(dst, data...)
}

// decodeValue decodes a stored value. The returned data aliases v for a raw
// value and buf (grown as needed) for a compressed one; with fresh set, it
// never aliases v and a raw value is copied into buf too.
func decodeValue(v, buf []byte, fresh bool) (version int64, data, newBuf []byte, err error) {
	u, n := binary.Uvarint(v)
	if n <= 0 || u > 1<<63-1 {
		return 0, nil, buf, fmt.Errorf("%w: bad version varint", errCorrupt)
	}
	if len(v) == n {
		return 0, nil, buf, fmt.Errorf("%w: missing encoding byte", errCorrupt)
	}
	body := v[n+1:]
	switch v[n] {
	case encRaw:
		if !fresh {
			return int64(u), body, buf, nil
		}
		buf = append(buf[:0], body...)
		return int64(u), buf, buf, nil
	case encS2:
		size, err := s2.DecodedLen(body)
		if err != nil {
			return 0, nil, buf, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		if size > maxCompressed {
			return 0, nil, buf, fmt.Errorf("%w: compressed value claims %d bytes", errCorrupt, size)
		}
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		data, err := s2.Decode(buf[:size], body)
		if err != nil {
			return 0, nil, buf, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		return int64(u), data, buf, nil
	default:
		return 0, nil, buf, fmt.Errorf("%w: unknown encoding %d", errCorrupt, v[n])
	}
}
