package engine_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

func rec(action fb.Action, id uint64, name string) *msg.Msg {
	return &msg.Msg{Topic: fb.TopicRecord, Action: action, ID: id, Name: name}
}

func expectError(t *testing.T, c *enginetest.Client, code protocol.Code) *msg.View {
	t.Helper()
	v := c.Expect(fb.TopicRecord, fb.ActionError)
	if protocol.Code(v.Code()) != code {
		t.Fatalf("want %v, got %v: %s", code, protocol.Code(v.Code()), v.Reason())
	}
	return v
}

func TestRecordsOverTheWire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, nil))
		for name, dial := range transports {
			t.Run(name, func(t *testing.T) {
				a := dial(t, srv).Open()
				b := dial(t, srv).Open()
				rn := "driver/" + name

				// Head of a missing record is -1 and Has is false; neither creates it.
				a.Send(rec(fb.ActionHead, 1, rn))
				if v := a.Expect(fb.TopicRecord, fb.ActionHeadResult); v.Version() != -1 {
					t.Fatalf("head of missing record: %d", v.Version())
				}
				a.Send(rec(fb.ActionSnapshot, 2, rn))
				expectError(t, a, protocol.CodeRecordNotFound)

				// A read creates {} at version 0 and subscribes.
				a.Send(rec(fb.ActionRead, 3, rn))
				v := a.Expect(fb.TopicRecord, fb.ActionReadResult)
				if v.Version() != 0 || string(v.DataBytes()) != "{}" || v.Id() != 3 {
					t.Fatalf("read: v%d %s id %d", v.Version(), v.DataBytes(), v.Id())
				}
				b.Send(rec(fb.ActionRead, 4, rn))
				b.Expect(fb.TopicRecord, fb.ActionReadResult)

				// Whole write, then a path write, seen by the other subscriber only.
				a.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Version: 1, Data: []byte(`{"name":"John","position":{"x":1,"y":2}}`)})
				if v := b.Expect(fb.TopicRecord, fb.ActionUpdate); v.Version() != 1 || string(v.DataBytes()) != `{"name":"John","position":{"x":1,"y":2}}` {
					t.Fatalf("update: v%d %s", v.Version(), v.DataBytes())
				}
				a.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, Name: rn, Version: 2, Path: "position.x", Data: []byte(`4244`), Flags: fb.FlagsWantAck, ID: 5})
				if v := a.Expect(fb.TopicRecord, fb.ActionWriteAck); v.Version() != 2 || v.Id() != 5 {
					t.Fatalf("write ack v%d id %d", v.Version(), v.Id())
				}
				if v := b.Expect(fb.TopicRecord, fb.ActionPatch); v.Version() != 2 || v.PathString() != "position.x" || string(v.DataBytes()) != "4244" {
					t.Fatalf("patch: v%d %s %s", v.Version(), v.Path(), v.DataBytes())
				}
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionErasePath, Name: rn, Version: 3, Path: "position.y"})
				if v := a.Expect(fb.TopicRecord, fb.ActionErasePath); v.Version() != 3 || v.PathString() != "position.y" {
					t.Fatalf("erase: v%d %s", v.Version(), v.Path())
				}

				// A stale version is a conflict carrying the server's state.
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 6, Name: rn, Version: 3, Path: "speed", Data: []byte(`1`)})
				c := b.Expect(fb.TopicRecord, fb.ActionVersionExists)
				if c.Version() != 3 || string(c.DataBytes()) != `{"name":"John","position":{"x":4244}}` || c.Id() != 6 {
					t.Fatalf("conflict: v%d %s", c.Version(), c.DataBytes())
				}
				// After a refusal, b's next versioned write was computed before
				// b knew: refused too, even with the right version, until b
				// reads the record again.
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 21, Name: rn, Version: 4, Path: "speed", Data: []byte(`1`)})
				if c := b.Expect(fb.TopicRecord, fb.ActionVersionExists); c.Version() != 3 || c.Id() != 21 || string(c.DataBytes()) != `{"name":"John","position":{"x":4244}}` {
					t.Fatalf("stale write: v%d id %d %s", c.Version(), c.Id(), c.DataBytes())
				}
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 22, Name: rn, Version: 3})
				b.Expect(fb.TopicRecord, fb.ActionReadResult)
				// A version from the future is invalid (and refuses what follows
				// the same way).
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 7, Name: rn, Version: 9, Path: "speed", Data: []byte(`1`)})
				expectError(t, b, protocol.CodeInvalidVersion)
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 23, Name: rn, Version: 3})
				b.Expect(fb.TopicRecord, fb.ActionReadResult)

				// Bad input is refused with a clear error and changes nothing.
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 8, Name: rn, Version: 4, Path: "a..b", Data: []byte(`1`)})
				expectError(t, b, protocol.CodeInvalidPath)
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 9, Name: rn, Version: 4, Path: "a", Data: []byte(`{nope`)})
				expectError(t, b, protocol.CodeInvalidData)
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, ID: 10, Name: rn, Version: 4, Data: []byte(`42`)})
				expectError(t, b, protocol.CodeInvalidDocument)
				// Padding an array far past its end would blow the document up.
				b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 20, Name: rn, Version: 4, Path: "big[900000]", Data: []byte(`1`)})
				expectError(t, b, protocol.CodeDocumentTooLarge)

				// Writes to a record the client never read are refused unless forced.
				o := dial(t, srv).Open()
				o.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 11, Name: rn, Version: 4, Path: "speed", Data: []byte(`5`)})
				expectError(t, o, protocol.CodeNotSubscribed)
				o.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 12, Name: rn, Path: "speed", Data: []byte(`30`), Flags: fb.FlagsForced | fb.FlagsWantAck})
				if v := o.Expect(fb.TopicRecord, fb.ActionWriteAck); v.Version() != 4 {
					t.Fatalf("forced write version %d", v.Version())
				}
				a.Expect(fb.TopicRecord, fb.ActionPatch)
				b.Expect(fb.TopicRecord, fb.ActionPatch)

				// Has, Head, Snapshot.
				o.Send(rec(fb.ActionHas, 13, rn))
				if v := o.Expect(fb.TopicRecord, fb.ActionHasResult); v.Version() != 1 {
					t.Fatal("has: false")
				}
				o.Send(rec(fb.ActionSnapshot, 14, rn))
				if v := o.Expect(fb.TopicRecord, fb.ActionSnapshotResult); v.Version() != 4 || string(v.DataBytes()) != `{"name":"John","position":{"x":4244},"speed":30}` {
					t.Fatalf("snapshot v%d %s", v.Version(), v.DataBytes())
				}

				// Catch-up: a read that names the version it has gets no data
				// when nothing changed.
				o.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 15, Name: rn, Version: 4})
				if v := o.Expect(fb.TopicRecord, fb.ActionReadResult); v.Version() != 4 || v.DataLength() != 0 {
					t.Fatalf("catch-up read sent data: v%d %s", v.Version(), v.DataBytes())
				}
				o.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 16, Name: rn, Version: 2})
				if v := o.Expect(fb.TopicRecord, fb.ActionReadResult); v.Version() != 4 || v.DataLength() == 0 {
					t.Fatalf("stale catch-up read got no data")
				}

				// Delete: the deleter gets an ack, the others are told.
				a.Send(rec(fb.ActionDelete, 17, rn))
				a.Expect(fb.TopicRecord, fb.ActionAck)
				b.Expect(fb.TopicRecord, fb.ActionDeleted)
				o.Expect(fb.TopicRecord, fb.ActionDeleted)
				o.Send(rec(fb.ActionHead, 18, rn))
				if v := o.Expect(fb.TopicRecord, fb.ActionHeadResult); v.Version() != -1 {
					t.Fatalf("head after delete: %d", v.Version())
				}
				// A later read starts over at version 0.
				b.Send(rec(fb.ActionRead, 19, rn))
				if v := b.Expect(fb.TopicRecord, fb.ActionReadResult); v.Version() != 0 || string(v.DataBytes()) != "{}" {
					t.Fatalf("read after delete: v%d %s", v.Version(), v.DataBytes())
				}
			})
		}
	})
}

func TestRecordsSurviveRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		dir := t.TempDir()
		srv := startPebble(t, backend, dir)
		a := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		a.Send(rec(fb.ActionRead, 1, "kept"))
		a.Expect(fb.TopicRecord, fb.ActionReadResult)
		a.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: 2, Name: "kept", Version: 1, Path: "a.b[1]", Data: []byte(`"x"`), Flags: fb.FlagsWantAck})
		a.Expect(fb.TopicRecord, fb.ActionWriteAck)
		stop(t, srv)

		srv = startPebble(t, backend, dir)
		defer stop(t, srv)
		b := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		b.Send(rec(fb.ActionSnapshot, 3, "kept"))
		if v := b.Expect(fb.TopicRecord, fb.ActionSnapshotResult); v.Version() != 1 || string(v.DataBytes()) != `{"a":{"b":[null,"x"]}}` {
			t.Fatalf("after restart: v%d %s", v.Version(), v.DataBytes())
		}
	})
}

func startPebble(t *testing.T, backend, dir string) *engine.Server {
	t.Helper()
	var opts engine.Options
	opts.Net.WSAddr, opts.Net.TCPAddr, opts.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0", "off"
	opts.Net.Backend = backend
	opts.Store.Path = dir
	srv, err := engine.New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	return srv
}

func stop(t *testing.T, srv *engine.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWritesBehindALoadKeepTheirOrder pipelines writes to a record that is
// not in memory yet: they must be applied in the order they were sent,
// even though the first one waits for the record to load.
func TestWritesBehindALoadKeepTheirOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, func(o *engine.Options) { o.Net.Backend = backend })
		c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		const n = 50
		var batch []byte
		for i := 1; i <= n; i++ {
			name := "fresh/" + backend
			if i%7 == 0 {
				name = "other/" + backend // interleave a second record that also loads
			}
			batch = frame.Append(batch, msg.Append(nil, &msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionPatch, ID: uint64(i), Name: name,
				Path: "n", Data: []byte(strconv.Itoa(i)), Flags: fb.FlagsForced | fb.FlagsWantAck}))
		}
		if _, err := c.Conn().Write(batch); err != nil {
			t.Fatal(err)
		}
		next := map[string]int64{}
		for i := 0; i < n; i++ {
			v := c.Expect(fb.TopicRecord, fb.ActionWriteAck)
			name := string(v.Name())
			next[name]++
			if v.Version() != next[name] {
				t.Fatalf("write %d to %s acknowledged as version %d, want %d", v.Id(), name, v.Version(), next[name])
			}
		}
		c.Send(rec(fb.ActionSnapshot, 100, "fresh/"+backend))
		if v := c.Expect(fb.TopicRecord, fb.ActionSnapshotResult); string(v.DataBytes()) != `{"n":50}` {
			t.Fatalf("final document %s", v.DataBytes())
		}
	})
}

// Two writes pipelined by b, the first losing the version race to a: the
// second carries the right version but was computed on b's refused write,
// so it must not land over a's (that would drop a's change silently).
// Once b flags a write Rebased (computed on the document the refusal
// carried) its writes are taken again.
func TestRecordsPipelinedWriteAfterRefusal(t *testing.T) {
	srv := enginetest.Start(t, nil)
	a := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	b := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	o := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	const rn = "list/1"
	for i, c := range []*enginetest.Client{a, b, o} {
		c.Send(rec(fb.ActionRead, uint64(i+1), rn))
		c.Expect(fb.TopicRecord, fb.ActionReadResult)
	}
	a.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Version: 1, Data: []byte(`["a"]`), ID: 10, Flags: fb.FlagsWantAck})
	a.Expect(fb.TopicRecord, fb.ActionWriteAck)
	b.Expect(fb.TopicRecord, fb.ActionUpdate) // a's, which b has not read yet when it writes
	b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Version: 1, Data: []byte(`["b1"]`), ID: 11})
	b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Version: 2, Data: []byte(`["b1","b2"]`), ID: 12})
	for _, id := range []uint64{11, 12} {
		v := b.Expect(fb.TopicRecord, fb.ActionVersionExists)
		if v.Id() != id || v.Version() != 1 || string(v.DataBytes()) != `["a"]` {
			t.Fatalf("refusal of %d: id %d v%d %s", id, v.Id(), v.Version(), v.DataBytes())
		}
	}
	// b merges onto what the refusal carried.
	b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Version: 2, Data: []byte(`["a","b1","b2"]`), ID: 13, Flags: fb.FlagsRebased | fb.FlagsWantAck})
	if v := b.Expect(fb.TopicRecord, fb.ActionWriteAck); v.Id() != 13 || v.Version() != 2 {
		t.Fatalf("rebased write: id %d v%d", v.Id(), v.Version())
	}
	// Later writes need no flag.
	b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Version: 3, Data: []byte(`["a","b1","b2","b3"]`), ID: 14, Flags: fb.FlagsWantAck})
	b.Expect(fb.TopicRecord, fb.ActionWriteAck)
	// The observer saw a's write, then b's two: nothing of b's refused pair.
	for _, want := range []string{`["a"]`, `["a","b1","b2"]`, `["a","b1","b2","b3"]`} {
		if v := o.Expect(fb.TopicRecord, fb.ActionUpdate); string(v.DataBytes()) != want {
			t.Fatalf("observer saw v%d %s, want %s", v.Version(), v.DataBytes(), want)
		}
	}
	// A forced write is not a versioned one: never held back.
	b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Version: 3, Data: []byte(`[]`), ID: 15})
	b.Expect(fb.TopicRecord, fb.ActionVersionExists)
	b.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionUpdate, Name: rn, Data: []byte(`["f"]`), ID: 16, Flags: fb.FlagsForced | fb.FlagsWantAck})
	if v := b.Expect(fb.TopicRecord, fb.ActionWriteAck); v.Version() != 4 {
		t.Fatalf("forced write after a refusal: v%d", v.Version())
	}
}
