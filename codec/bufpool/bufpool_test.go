package bufpool

import "testing"

func TestGetPutClasses(t *testing.T) {
	for _, n := range []int{0, 1, 1 << 16, 1<<16 + 1, 300 << 10, 16 << 20} {
		b := Get(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
		Put(b)
	}
	if b := Get(32 << 20); cap(b) < 32<<20 {
		t.Fatal("oversize Get too small")
	}
}

func TestGrowKeepsContent(t *testing.T) {
	b := []byte("hello")
	for i := 0; i < 20; i++ {
		b = Grow(b, 50000)
		b = append(b, make([]byte, 50000)...)
	}
	if string(b[:5]) != "hello" || len(b) != 5+20*50000 {
		t.Fatalf("content lost: len %d", len(b))
	}
}

func BenchmarkGrowCycle(b *testing.B) {
	b.ReportAllocs()
	chunk := make([]byte, 32<<10)
	for i := 0; i < b.N; i++ {
		var buf []byte
		for j := 0; j < 16; j++ { // burst to 512 KiB
			buf = Grow(buf, len(chunk))
			buf = append(buf, chunk...)
		}
		Put(buf)
	}
}

// A small queue stays small: the first Grow of an empty slice for a short
// reply must not hand out a pooled 64 KiB slice.
func TestGrowSmallStaysSmall(t *testing.T) {
	b := Grow(nil, 100)
	if cap(b) < 100 || cap(b) >= 1<<minShift {
		t.Fatalf("Grow(nil, 100): cap %d, want at least 100 and below %d", cap(b), 1<<minShift)
	}
	if b := Get(1000); cap(b) != 1000 {
		t.Fatalf("Get(1000): cap %d, want 1000", cap(b))
	}
	b = Grow(b[:0], 70000)
	if cap(b) != 1<<17 {
		t.Fatalf("Grow to 70000: cap %d, want the 128 KiB class", cap(b))
	}
}
