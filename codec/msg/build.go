package msg

import (
	"sync"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Msg is the write side of a Message: fill the fields that apply and call
// Append. Zero fields are omitted from the encoding. Strings may alias
// buffers (see UnsafeString); Append copies everything it needs.
type Msg struct {
	Topic           fb.Topic
	Action          fb.Action
	Flags           fb.Flags
	ID              uint64
	Name            string
	Path            string
	Version         int64
	Data            []byte
	Names           []string
	Code            uint16
	Reason          string
	User            string
	TimeoutMs       uint32
	AcceptTimeoutMs uint32

	// HasVersion writes Version even when it is zero (a record at version 0,
	// or a boolean result of false), so readers can tell "0" from "absent".
	HasVersion bool
}

var builders = sync.Pool{New: func() any { return flatbuffers.NewBuilder(256) }}

// Append encodes m as a FlatBuffer Message and appends it to dst.
// It allocates nothing once the pooled builders have grown.
func Append(dst []byte, m *Msg) []byte {
	b := builders.Get().(*flatbuffers.Builder)
	b.Reset()
	var name, path, reason, user, data, names flatbuffers.UOffsetT
	if m.Name != "" {
		name = b.CreateString(m.Name)
	}
	if m.Path != "" {
		path = b.CreateString(m.Path)
	}
	if m.Reason != "" {
		reason = b.CreateString(m.Reason)
	}
	if m.User != "" {
		user = b.CreateString(m.User)
	}
	if m.Data != nil {
		data = b.CreateByteVector(m.Data)
	}
	if len(m.Names) > 0 {
		var offs [16]flatbuffers.UOffsetT
		list := offs[:0]
		for _, s := range m.Names {
			list = append(list, b.CreateString(s))
		}
		b.StartVector(4, len(list), 4)
		for i := len(list) - 1; i >= 0; i-- {
			b.PrependUOffsetT(list[i])
		}
		names = b.EndVector(len(list))
	}
	fb.MessageStart(b)
	if m.ID != 0 {
		fb.MessageAddId(b, m.ID)
	}
	if m.Version != 0 || m.HasVersion {
		b.PrependInt64(m.Version) // written even when zero, unlike MessageAddVersion
		b.Slot(6)
	}
	if data != 0 {
		fb.MessageAddData(b, data)
	}
	if names != 0 {
		fb.MessageAddNames(b, names)
	}
	if name != 0 {
		fb.MessageAddName(b, name)
	}
	if path != 0 {
		fb.MessageAddPath(b, path)
	}
	if reason != 0 {
		fb.MessageAddReason(b, reason)
	}
	if user != 0 {
		fb.MessageAddUser(b, user)
	}
	if m.TimeoutMs != 0 {
		fb.MessageAddTimeoutMs(b, m.TimeoutMs)
	}
	if m.AcceptTimeoutMs != 0 {
		fb.MessageAddAcceptTimeoutMs(b, m.AcceptTimeoutMs)
	}
	if m.Flags != 0 {
		fb.MessageAddFlags(b, uint16(m.Flags))
	}
	if m.Code != 0 {
		fb.MessageAddCode(b, m.Code)
	}
	fb.MessageAddTopic(b, m.Topic)
	fb.MessageAddAction(b, m.Action)
	b.Finish(fb.MessageEnd(b))
	dst = append(dst, b.FinishedBytes()...)
	builders.Put(b)
	return dst
}
