package load

import (
	"math"
	"math/bits"
	"time"
)

// subBuckets is the number of linear buckets per power of two; values are
// kept with a relative error below 1/subBuckets (0.8%).
const (
	subBits    = 7
	subBuckets = 1 << subBits
	histSize   = (64-subBits)*subBuckets + subBuckets
)

// Histogram records durations in log-linear buckets (the HDR histogram
// idea): exact below 128 ns, then 128 buckets per power of two. Record is
// a few instructions and never allocates; histograms of the same kind merge
// by addition. A Histogram belongs to one goroutine; Merge the per-goroutine
// histograms once recording has stopped.
type Histogram struct {
	counts [histSize]uint64
	n      uint64
	sum    uint64
	max    uint64
}

// bucketOf maps a value to its bucket index.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subBuckets + int(v>>uint(shift))
}

// bucketValue returns the middle of bucket i's range.
func bucketValue(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	base := uint64(i - shift*subBuckets)
	lo := base << uint(shift)
	return lo + (uint64(1)<<uint(shift))/2
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Reset forgets every value.
func (h *Histogram) Reset() { *h = Histogram{} }

// Quantile returns the value at quantile q in [0, 1] (0 when empty). The
// answer is the middle of the bucket holding the q-th value, capped at the
// largest value seen.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// Mean returns the average value.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Max returns the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Latency summarises a histogram in microseconds, as reported.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
	Max     float64 `json:"max_us"`
	Mean    float64 `json:"mean_us"`
}

// Summary returns the reported percentiles.
func (h *Histogram) Summary() Latency {
	us := func(d time.Duration) float64 { return math.Round(float64(d)/1e1) / 1e2 }
	return Latency{
		Samples: h.n,
		P50:     us(h.Quantile(0.50)),
		P99:     us(h.Quantile(0.99)),
		P999:    us(h.Quantile(0.999)),
		Max:     us(h.Max()),
		Mean:    us(h.Mean()),
	}
}
