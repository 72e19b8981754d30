package load

import (
	"errors"
	"fmt"
	"time"
)

// A bench payload is a JSON object of exactly the requested size whose
// fixed-width fields say who sent it, its sequence number and when:
//
//	{"p":"0003","s":"000000000042","t":"0000001234567890","x":"xxxx…"}
//
// p is the publisher, s its sequence number (from 1), t the publish time in
// nanoseconds on the process's monotonic clock (see Now), and x pads the
// object to its size. The fields sit at fixed offsets, so stamping and
// reading a payload is a handful of digit writes and reads, with no
// allocation and no JSON parsing.
const (
	offPub     = 6
	lenPub     = 4
	offSeq     = 17
	lenSeq     = 12
	offTime    = 36
	lenTime    = 16
	offPad     = 59
	payloadMin = offPad + 2
)

// MinPayload is the smallest payload size a scenario accepts.
const MinPayload = payloadMin

var errBadPayload = errors.New("load: malformed bench payload")

// epoch anchors Now; time.Since reads the monotonic clock.
var epoch = time.Now()

// Now returns nanoseconds since the process's epoch on the monotonic clock.
// Publishers and subscribers of one process share it, so their stamps agree.
func Now() int64 { return int64(time.Since(epoch)) }

// NewPayload returns a template payload of size bytes for publisher pub.
func NewPayload(size, pub int) ([]byte, error) {
	if size < payloadMin {
		return nil, fmt.Errorf("load: payload size %d is below the minimum of %d bytes", size, payloadMin)
	}
	if pub < 0 || pub >= 10000 {
		return nil, fmt.Errorf("load: publisher index %d out of range", pub)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"p":"0000","s":"000000000000","t":"0000000000000000","x":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	b = append(b, `"}`...)
	putDigits(b[offPub:offPub+lenPub], uint64(pub))
	return b, nil
}

// Stamp writes seq and the time t into a template made by NewPayload.
func Stamp(p []byte, seq uint64, t int64) {
	putDigits(p[offSeq:offSeq+lenSeq], seq)
	putDigits(p[offTime:offTime+lenTime], uint64(t))
}

// ReadPayload returns the publisher, sequence number and time of a payload.
func ReadPayload(p []byte) (pub int, seq uint64, t int64, err error) {
	if len(p) < payloadMin || p[0] != '{' || p[offPub-1] != '"' || p[offSeq-1] != '"' || p[offTime-1] != '"' || p[len(p)-1] != '}' {
		return 0, 0, 0, errBadPayload
	}
	pv, ok1 := getDigits(p[offPub : offPub+lenPub])
	sv, ok2 := getDigits(p[offSeq : offSeq+lenSeq])
	tv, ok3 := getDigits(p[offTime : offTime+lenTime])
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, 0, errBadPayload
	}
	return int(pv), sv, int64(tv), nil
}

// putDigits writes v as zero-padded decimal filling dst (high digits are
// dropped if v does not fit).
func putDigits(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

func getDigits(src []byte) (uint64, bool) {
	var v uint64
	for _, c := range src {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
