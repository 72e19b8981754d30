package ws

import (
	"strconv"
	"strings"
	"testing"
)

func BenchmarkParserNext(b *testing.B) {
	b.Run("masked-binary-128B", func(b *testing.B) {
		wire := AppendFrame(nil, OpBinary, pseudoRandom(128), false, &testMask)
		buf := make([]byte, len(wire))
		var p Parser
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, wire) // Next unmasks in place
			f, n, err := p.Next(buf)
			if err != nil || n != len(wire) || len(f.Payload) != 128 {
				b.Fatal(err)
			}
		}
	})
	b.Run("masked-binary-4KiB-fragmented", func(b *testing.B) {
		wire := appendFragments(nil, OpBinary, pseudoRandom(4096), 1024, false, &testMask)
		buf := make([]byte, len(wire))
		var p Parser
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, wire)
			if _, n, err := p.Next(buf); err != nil || n != len(wire) {
				b.Fatal(err)
			}
		}
	})
	b.Run("masked-compressed-1KiB-json", func(b *testing.B) {
		wire := AppendFrame(nil, OpText, Compress(nil, benchJSON()), true, &testMask)
		buf := make([]byte, len(wire))
		p := Parser{Deflate: true}
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, wire)
			if _, n, err := p.Next(buf); err != nil || n != len(wire) {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendHeader(b *testing.B) {
	dst := make([]byte, 0, MaxHeaderSize)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendHeader(dst[:0], OpBinary, 1000, true, false, nil)
	}
}

func BenchmarkMaskBytes(b *testing.B) {
	for _, size := range []int{128, 4096} {
		buf := pseudoRandom(size)
		b.Run(byteSize(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			pos := 0
			for b.Loop() {
				pos = MaskBytes(testMask, pos, buf)
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// benchJSON is a 1 KiB JSON document of the kind Eddy records carry.
func benchJSON() []byte {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 0; sb.Len() < 1100; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":"user-` + strconv.Itoa(i) + `","name":"Ann Example","online":true,"score":` + strconv.Itoa(i*37%1000) + `}`)
	}
	return []byte(sb.String()[:1022] + "]}")
}

func BenchmarkCompress(b *testing.B) {
	in := benchJSON()
	dst := Compress(nil, in)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ReportMetric(float64(len(dst))/float64(len(in)), "ratio")
	for b.Loop() {
		dst = Compress(dst[:0], in)
	}
}

func BenchmarkDecompress(b *testing.B) {
	in := benchJSON()
	z := Compress(nil, in)
	dst := make([]byte, 0, 2*len(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = Decompress(dst[:0], z, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
