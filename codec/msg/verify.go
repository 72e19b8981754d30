package msg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every verification failure.
var ErrMalformed = errors.New("msg: malformed message")

// MaxSize is the largest buffer Verify accepts (FlatBuffers offsets are
// 32-bit; the session applies its own, smaller frame limit first).
const MaxSize = 1<<31 - 1

// field kinds of the Message table, in schema order (vtable slot i is field i).
type kind uint8

const (
	kScalar1 kind = iota
	kScalar2
	kScalar4
	kScalar8
	kString
	kBytes
	kStrings
)

// layout lists the Message table's fields in schema order; it must match
// protocol/schema/eddy.fbs (TestLayoutMatchesSchema checks it).
var layout = [...]kind{
	kScalar1, // topic
	kScalar1, // action
	kScalar2, // flags
	kScalar8, // id
	kString,  // name
	kString,  // path
	kScalar8, // version
	kBytes,   // data
	kStrings, // names
	kScalar2, // code
	kString,  // reason
	kString,  // user
	kScalar4, // timeout_ms
	kScalar4, // accept_timeout_ms
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Verify checks that buf holds a well-formed Message: every offset, length
// and vtable entry the accessors will follow lies inside buf, strings are
// terminated, and vectors fit. It reads buf only and never panics; after it
// returns nil the generated accessors cannot read out of bounds.
func Verify(buf []byte) error {
	n := uint64(len(buf))
	if n < 8 {
		return malformed("%d bytes is shorter than a table", n)
	}
	if n > MaxSize {
		return malformed("%d bytes exceeds the format limit", n)
	}
	table := uint64(binary.LittleEndian.Uint32(buf))
	if table%4 != 0 || table+4 > n {
		return malformed("root offset %d out of range", table)
	}
	vt := int64(table) - int64(int32(binary.LittleEndian.Uint32(buf[table:])))
	if vt < 0 || vt%2 != 0 || uint64(vt)+4 > n {
		return malformed("vtable offset %d out of range", vt)
	}
	vtab := uint64(vt)
	vtSize := uint64(binary.LittleEndian.Uint16(buf[vtab:]))
	tblSize := uint64(binary.LittleEndian.Uint16(buf[vtab+2:]))
	if vtSize < 4 || vtSize%2 != 0 || vtab+vtSize > n {
		return malformed("vtable size %d out of range", vtSize)
	}
	if tblSize < 4 || table+tblSize > n {
		return malformed("table size %d out of range", tblSize)
	}
	fields := (vtSize - 4) / 2
	for i := uint64(0); i < fields && i < uint64(len(layout)); i++ {
		off := uint64(binary.LittleEndian.Uint16(buf[vtab+4+2*i:]))
		if off == 0 {
			continue
		}
		k := layout[i]
		size := uint64(4)
		switch k {
		case kScalar1:
			size = 1
		case kScalar2:
			size = 2
		case kScalar8:
			size = 8
		}
		if off < 4 || off+size > tblSize {
			return malformed("field %d at %d outside table of %d bytes", i, off, tblSize)
		}
		pos := table + off
		switch k {
		case kString:
			if err := verifyString(buf, pos); err != nil {
				return fmt.Errorf("field %d: %w", i, err)
			}
		case kBytes:
			if _, err := vectorAt(buf, pos, 1); err != nil {
				return fmt.Errorf("field %d: %w", i, err)
			}
		case kStrings:
			start, err := vectorAt(buf, pos, 4)
			if err != nil {
				return fmt.Errorf("field %d: %w", i, err)
			}
			count := uint64(binary.LittleEndian.Uint32(buf[start-4:]))
			for j := uint64(0); j < count; j++ {
				if err := verifyString(buf, start+4*j); err != nil {
					return fmt.Errorf("field %d element %d: %w", i, j, err)
				}
			}
		}
	}
	return nil
}

// vectorAt follows the uoffset stored at pos to a vector of elemSize-byte
// elements and returns the position of its first element.
func vectorAt(buf []byte, pos, elemSize uint64) (uint64, error) {
	n := uint64(len(buf))
	target := pos + uint64(binary.LittleEndian.Uint32(buf[pos:]))
	if target%4 != 0 || target+4 > n {
		return 0, malformed("vector offset %d out of range", target)
	}
	count := uint64(binary.LittleEndian.Uint32(buf[target:]))
	if count > n || target+4+count*elemSize > n {
		return 0, malformed("vector of %d elements overruns the buffer", count)
	}
	return target + 4, nil
}

// verifyString follows the uoffset at pos to a string and checks its length
// and terminating zero.
func verifyString(buf []byte, pos uint64) error {
	n := uint64(len(buf))
	if pos+4 > n {
		return malformed("string offset at %d out of range", pos)
	}
	target := pos + uint64(binary.LittleEndian.Uint32(buf[pos:]))
	if target%4 != 0 || target+4 > n {
		return malformed("string offset %d out of range", target)
	}
	length := uint64(binary.LittleEndian.Uint32(buf[target:]))
	end := target + 4 + length
	if length > n || end >= n || buf[end] != 0 {
		return malformed("string of %d bytes overruns the buffer or is unterminated", length)
	}
	return nil
}
