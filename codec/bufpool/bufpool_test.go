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
