package timewheel

import (
	"testing"
	"time"
)

func BenchmarkScheduleStop(b *testing.B) {
	w := newWheel(1024)
	var tm Timer[int]
	d := epoch.Add(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		w.Schedule(&tm, d)
		w.Stop(&tm)
	}
}
