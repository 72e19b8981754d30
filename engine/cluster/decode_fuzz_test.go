package cluster

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
)

// FuzzDirectoryMessages feeds arbitrary bytes to every decoder of what
// other nodes send: directory deltas, heartbeats, goodbyes, snapshot
// chunks and requests, node messages, event subjects. None may panic, and
// the directory must stay within its bounds.
func FuzzDirectoryMessages(f *testing.F) {
	n, err := New(Config{URLs: "nats://127.0.0.1:1", Node: "self", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	d := n.dir
	seen := 0
	d.OnEntry('x', func(node, key string, add bool) { seen++ })
	n.Handle('q', func(from string, payload []byte) {})
	// Seeds: a well-formed delta and snapshot from node "b".
	hdr := func(typ byte) []byte {
		b := append([]byte{typ}, 1, 'b')
		return binary.BigEndian.AppendUint64(b, 7)
	}
	delta := appendUvarint(hdr(dirDelta), 1)
	delta = binary.BigEndian.AppendUint32(delta, 1)
	delta = appendString(append(delta, 1), "xkey")
	f.Add(delta)
	f.Add(appendUvarint(hdr(dirHeartbeat), 3))
	f.Add(hdr(dirBye))
	snap := appendUvarint(appendUvarint(appendUvarint(hdr(dirSnapshot), 1), 1), 0)
	snap = binary.BigEndian.AppendUint32(append(snap, 1), 1)
	f.Add(appendString(snap, "xkey"))
	f.Add([]byte{'q', 1, 'b', 'p'})
	f.Fuzz(func(t *testing.T, b []byte) {
		d.onDirMsg(&nats.Msg{Data: b})
		d.onSnapshot(&nats.Msg{Data: b})
		d.onSyncRequest(&nats.Msg{Data: b}) // no reply subject: ignored
		n.onNodeMsg(&nats.Msg{Data: b})
		if name, ok := DecodeName(string(b)); ok && EncodeName(name) != string(b) {
			t.Fatalf("%q decodes to %q, which encodes to %q", b, name, EncodeName(name))
		}
		d.rmu.Lock()
		for _, r := range d.nodes {
			if len(r.buf) > maxBuffered {
				t.Fatalf("%d changes buffered", len(r.buf))
			}
		}
		d.rmu.Unlock()
	})
}
