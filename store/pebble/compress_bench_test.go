package pebble

import (
	"fmt"
	"testing"

	"github.com/eddy-realtime/eddy/store/storetest"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// BenchmarkCompression compares the candidate value codecs on realistic
// record JSON of the three sizes the doc comment of value.go quotes. Each
// sub-benchmark reports the stored size as a percentage of the raw size.
func BenchmarkCompression(b *testing.B) {
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		b.Fatal(err)
	}
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		b.Fatal(err)
	}
	codecs := []struct {
		name   string
		encode func(dst, src []byte) []byte
		decode func(dst, src []byte) ([]byte, error)
	}{
		{"s2", func(dst, src []byte) []byte { return s2.Encode(dst[:cap(dst)], src) }, func(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }},
		{"s2-better", func(dst, src []byte) []byte { return s2.EncodeBetter(dst[:cap(dst)], src) }, func(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }},
		{"zstd-fastest", func(dst, src []byte) []byte { return zenc.EncodeAll(src, dst[:0]) }, func(dst, src []byte) ([]byte, error) { return zdec.DecodeAll(src, dst[:0]) }},
	}
	for _, size := range []int{200, 2 << 10, 50 << 10} {
		src := storetest.SampleJSON(size, 42)
		for _, c := range codecs {
			enc := c.encode(make([]byte, 0, s2.MaxEncodedLen(len(src))+64), src)
			ratio := 100 * float64(len(enc)) / float64(len(src))
			b.Run(fmt.Sprintf("encode/%s/%d", c.name, size), func(b *testing.B) {
				dst := make([]byte, 0, s2.MaxEncodedLen(len(src))+64)
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				for b.Loop() {
					dst = c.encode(dst, src)
				}
				b.ReportMetric(ratio, "%size")
			})
			b.Run(fmt.Sprintf("decode/%s/%d", c.name, size), func(b *testing.B) {
				dst := make([]byte, 0, len(src))
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if dst, err = c.decode(dst, enc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
