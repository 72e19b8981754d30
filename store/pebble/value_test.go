package pebble

import (
	"bytes"
	"errors"
	"testing"

	"github.com/eddy-realtime/eddy/store/storetest"
)

func TestValueRoundTrip(t *testing.T) {
	noise := make([]byte, 4096)
	x := uint32(1)
	for i := range noise {
		x = x*1664525 + 1013904223
		noise[i] = byte(x >> 24)
	}
	cases := []struct {
		name    string
		data    []byte
		wantEnc byte
	}{
		{"nil", nil, encRaw},
		{"small", []byte(`{"a":1}`), encRaw},
		{"just-below", storetest.SampleJSON(compressMin-1, 1)[:compressMin-1], encRaw},
		{"2KiB", storetest.SampleJSON(2048, 2), encS2},
		{"50KiB", storetest.SampleJSON(50<<10, 3), encS2},
		{"noise", noise, encRaw},
	}
	for _, c := range cases {
		for _, version := range []int64{0, 1, 300, 1<<63 - 1} {
			v := appendValue([]byte("prefix"), version, c.data)[len("prefix"):]
			n := 0
			for v[n]&0x80 != 0 {
				n++
			}
			if v[n+1] != c.wantEnc {
				t.Errorf("%s: encoding %d, want %d", c.name, v[n+1], c.wantEnc)
			}
			for _, fresh := range []bool{false, true} {
				gotV, data, _, err := decodeValue(v, nil, fresh)
				if err != nil || gotV != version || !bytes.Equal(data, c.data) {
					t.Fatalf("%s v%d fresh=%v: decode = %d, %d bytes, %v", c.name, version, fresh, gotV, len(data), err)
				}
				if fresh && len(data) > 0 {
					stored := bytes.Clone(v)
					data[0] ^= 1
					if !bytes.Equal(v, stored) {
						t.Fatalf("%s: fresh decode aliases the stored value", c.name)
					}
				}
			}
		}
	}
}

func TestDecodeValueErrors(t *testing.T) {
	for _, v := range [][]byte{nil, {}, {0x80}, {0x05}, {0x05, 7, 'x'}, {0x01, encS2}, {0x01, encS2, 0xff, 0xff, 0xff, 0xff, 0x7f}, {0x01, encS2, 0x10, 0x00}} {
		if _, _, _, err := decodeValue(v, nil, true); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeValue(% x) = %v, want errCorrupt", v, err)
		}
	}
}

// FuzzDecodeValue: decoding stored bytes never panics, and whatever decodes
// re-encodes to a value that decodes to the same record.
func FuzzDecodeValue(f *testing.F) {
	f.Add(appendValue(nil, 0, nil))
	f.Add(appendValue(nil, 42, []byte(`{"a":[1,2,3]}`)))
	f.Add(appendValue(nil, 1<<40, storetest.SampleJSON(1500, 5)))
	f.Add([]byte{0x01, encS2, 0x05, 0x10, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, encRaw})
	f.Fuzz(func(t *testing.T, v []byte) {
		version, data, _, err := decodeValue(v, nil, false)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v is not errCorrupt", err)
			}
			return
		}
		version2, data2, _, err := decodeValue(appendValue(nil, version, data), nil, true)
		if err != nil || version2 != version || !bytes.Equal(data2, data) {
			t.Fatalf("round trip: %d/%d bytes -> %d/%d bytes, %v", version, len(data), version2, len(data2), err)
		}
	})
}
