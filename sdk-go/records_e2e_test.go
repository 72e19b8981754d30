package eddy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol/fb"
	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// These tests run records against the real server, in process, on free
// loopback ports, over raw TCP and WebSocket.

var recTransports = []string{"tcp", "ws"}

func recCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recGet(t *testing.T, c *eddy.Client, name string) *eddy.Record {
	t.Helper()
	r, err := c.Record.Get(recCtx(t), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	t.Cleanup(r.Discard)
	return r
}

// recList returns a handle to the list name through c, discarded when the
// test ends.
func recList(t *testing.T, c *eddy.Client, name string) *eddy.List {
	t.Helper()
	l, err := c.Record.GetList(recCtx(t), name)
	if err != nil {
		t.Fatalf("GetList(%q): %v", name, err)
	}
	t.Cleanup(l.Discard)
	return l
}

// recStates returns an option that reports a client's connection states,
// and a function waiting (see waitState) until the client reported want.
func recStates() (eddy.Option, func(t *testing.T, want eddy.ConnectionState)) {
	ch := make(chan eddy.ConnectionState, 64)
	wait := func(t *testing.T, want eddy.ConnectionState) {
		t.Helper()
		waitState(t, ch, want)
	}
	return eddy.WithConnectionStateHandler(func(s eddy.ConnectionState) { ch <- s }), wait
}

// recValues collects what one path subscription receives ("<nil>" for nil).
type recValues struct {
	ch chan string
}

func newRecValues() *recValues { return &recValues{ch: make(chan string, 10000)} }

func (v *recValues) fn(b json.RawMessage) {
	if b == nil {
		v.ch <- "<nil>"
		return
	}
	v.ch <- string(b)
}

func (v *recValues) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-v.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not called")
		return ""
	}
}

func (v *recValues) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := v.next(t); !recJSONEqual(got, w) {
			t.Fatalf("subscription got %s, want %s", got, w)
		}
	}
}

// quiet asserts the subscription is not called for a while.
func (v *recValues) quiet(t *testing.T) {
	t.Helper()
	select {
	case s := <-v.ch:
		t.Fatalf("unexpected call with %s", s)
	case <-time.After(100 * time.Millisecond):
	}
}

func recJSONEqual(a, b string) bool {
	if a == "<nil>" || b == "<nil>" {
		return a == b
	}
	return jsonpath.Equal([]byte(a), []byte(b))
}

// recEventually polls cond until it holds.
func recEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRecordsEndToEnd(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range recTransports {
		t.Run(transport, func(t *testing.T) {
			ctx := recCtx(t)
			name := "driver/" + transport
			a := dial(t, addrOf(srv, transport))
			b := dial(t, addrOf(srv, "tcp"))
			o := dial(t, addrOf(srv, "ws"))

			// Missing: Head -1, Has false, Snapshot not found; none creates it.
			if v, err := o.Record.Head(ctx, name); err != nil || v != -1 {
				t.Fatalf("Head of missing record: %d, %v", v, err)
			}
			if ok, err := o.Record.Has(ctx, name); err != nil || ok {
				t.Fatalf("Has of missing record: %v, %v", ok, err)
			}
			if _, err := o.Record.Snapshot(ctx, name); !errors.Is(err, eddy.ErrRecordNotFound) {
				t.Fatalf("Snapshot of missing record: %v", err)
			}

			// Get creates {} at version 0.
			ra := recGet(t, a, name)
			if ra.Version() != 0 || string(ra.Get("")) != "{}" || ra.Name() != name {
				t.Fatalf("new record: v%d %s", ra.Version(), ra.Get(""))
			}
			rb := recGet(t, b, name)
			pos, x, nm, whole := newRecValues(), newRecValues(), newRecValues(), newRecValues()
			rb.Subscribe("position", pos.fn)
			rb.Subscribe("position.x", x.fn)
			rb.Subscribe("name", nm.fn)
			rb.Subscribe("", whole.fn)
			own := newRecValues()
			ra.Subscribe("position.x", own.fn)

			// Whole write: every subscription whose value changed fires,
			// on the other client and locally.
			if err := ra.Set(ctx, map[string]any{"name": "John", "position": map[string]any{"x": 4234, "y": 2454}}); err != nil {
				t.Fatal(err)
			}
			if ra.Version() != 1 || !recJSONEqual(string(ra.Get("position")), `{"x":4234,"y":2454}`) {
				t.Fatalf("local copy after Set: v%d %s", ra.Version(), ra.Get(""))
			}
			own.expect(t, `4234`)
			pos.expect(t, `{"x":4234,"y":2454}`)
			x.expect(t, `4234`)
			nm.expect(t, `"John"`)
			whole.expect(t, `{"name":"John","position":{"x":4234,"y":2454}}`)

			// A path write fires the path, its ancestors, not its siblings.
			if err := ra.SetPath(ctx, "position.x", 4244); err != nil {
				t.Fatal(err)
			}
			own.expect(t, `4244`)
			x.expect(t, `4244`)
			pos.expect(t, `{"x":4244,"y":2454}`)
			whole.expect(t, `{"name":"John","position":{"x":4244,"y":2454}}`)
			nm.quiet(t)
			recEventually(t, "version 2 at b", func() bool { return rb.Version() == 2 })

			// Writing the same value again changes nothing and sends nothing.
			if err := ra.SetPath(ctx, "position.x", 4244); err != nil {
				t.Fatal(err)
			}
			if ra.Version() != 2 {
				t.Fatalf("no-op write made version %d", ra.Version())
			}

			// Durable write; arrays by index.
			if err := ra.SetWithAck(ctx, "speed", 22); err != nil {
				t.Fatal(err)
			}
			if err := ra.SetPath(ctx, "tags[2]", "c"); err != nil {
				t.Fatal(err)
			}
			if err := ra.SetPath(ctx, "a.b[0].c", true); err != nil {
				t.Fatal(err)
			}
			recEventually(t, "version 5 at b", func() bool { return rb.Version() == 5 })
			if got := string(rb.Get("tags")); got != `[null,null,"c"]` {
				t.Fatalf("tags at b: %s", got)
			}
			if got := string(rb.Get("a.b[0].c")); got != `true` {
				t.Fatalf("a.b[0].c at b: %s", got)
			}
			x.quiet(t)

			// Erase from the other side.
			if err := rb.Erase(ctx, "position.y"); err != nil {
				t.Fatal(err)
			}
			pos.expect(t, `{"x":4244}`)
			recEventually(t, "erase at a", func() bool { return ra.Get("position.y") == nil && ra.Version() == 6 })
			if err := rb.EraseWithAck(ctx, "tags[0]"); err != nil {
				t.Fatal(err)
			}
			recEventually(t, "erase of an element at a", func() bool { return string(ra.Get("tags")) == `[null,"c"]` })

			// Has, Head, Snapshot agree with the holders.
			if ok, err := o.Record.Has(ctx, name); err != nil || !ok {
				t.Fatalf("Has: %v %v", ok, err)
			}
			if v, err := o.Record.Head(ctx, name); err != nil || v != 7 {
				t.Fatalf("Head: %d %v", v, err)
			}
			snap, err := o.Record.Snapshot(ctx, name)
			if err != nil || snap.Version != 7 || !jsonpath.Equal(snap.Data, ra.Get("")) || !jsonpath.Equal(snap.Data, rb.Get("")) {
				t.Fatalf("Snapshot v%d %s (%v); a has %s", snap.Version, snap.Data, err, ra.Get(""))
			}

			// SetData writes without holding the record; holders see it,
			// and so does the writer's own copy when it holds one.
			if err := o.Record.SetData(ctx, name, "speed", 30); err != nil {
				t.Fatal(err)
			}
			recEventually(t, "SetData at a and b", func() bool {
				return string(ra.Get("speed")) == "30" && string(rb.Get("speed")) == "30" && ra.Version() == 8 && rb.Version() == 8
			})
			if err := a.Record.SetData(ctx, name, "owner", "a"); err != nil {
				t.Fatal(err)
			}
			if string(ra.Get("owner")) != `"a"` || ra.Version() != 9 {
				t.Fatalf("own SetData not applied locally: v%d %s", ra.Version(), ra.Get(""))
			}
			if err := o.Record.SetData(ctx, "fresh/"+transport, "", map[string]any{"k": 1}); err != nil {
				t.Fatal(err)
			}
			if snap, err := o.Record.Snapshot(ctx, "fresh/"+transport); err != nil || snap.Version != 1 || string(snap.Data) != `{"k":1}` {
				t.Fatalf("SetData created v%d %s (%v)", snap.Version, snap.Data, err)
			}
			if err := o.Record.EraseData(ctx, "fresh/"+transport, "k"); err != nil {
				t.Fatal(err)
			}
			if snap, _ := o.Record.Snapshot(ctx, "fresh/"+transport); snap.Version != 2 || string(snap.Data) != `{}` {
				t.Fatalf("EraseData: v%d %s", snap.Version, snap.Data)
			}

			// Writes from b reach a, and a keeps writing on top of them. b
			// must hold a's last write first: a write from an older version
			// conflicts, and the default merge (remote wins) drops it.
			recEventually(t, "version 9 at b", func() bool { return rb.Version() == 9 })
			for i := range 20 {
				if err := rb.SetPath(ctx, "counter", i); err != nil {
					t.Fatal(err)
				}
			}
			recEventually(t, "counter at a", func() bool { return string(ra.Get("counter")) == "19" })
			if err := ra.SetWithAck(ctx, "counter", 100); err != nil {
				t.Fatal(err)
			}
			recEventually(t, "counter at b", func() bool { return string(rb.Get("counter")) == "100" })
			if ra.Version() != rb.Version() || !jsonpath.Equal(ra.Get(""), rb.Get("")) {
				t.Fatalf("copies differ: a v%d %s, b v%d %s", ra.Version(), ra.Get(""), rb.Version(), rb.Get(""))
			}

			var dst struct {
				Name     string
				Position struct{ X int }
			}
			if err := ra.Unmarshal("", &dst); err != nil || dst.Name != "John" || dst.Position.X != 4244 {
				t.Fatalf("Unmarshal: %+v %v", dst, err)
			}
		})
	}
}

func TestRecordsSharedHandles(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx := recCtx(t)
	a := dial(t, addrOf(srv, "tcp"))
	b := dial(t, addrOf(srv, "tcp"))
	h1 := recGet(t, a, "shared")
	h2 := recGet(t, a, "shared")
	s1, s2 := newRecValues(), newRecValues()
	h1.Subscribe("k", s1.fn)
	h2.Subscribe("k", s2.fn)
	if err := h1.SetWithAck(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if string(h2.Get("k")) != "1" || h2.Version() != 1 {
		t.Fatalf("handles do not share: %s v%d", h2.Get("k"), h2.Version())
	}
	s1.expect(t, "1")
	s2.expect(t, "1")

	// Discarding one handle stops its subscriptions only.
	h1.Discard()
	if err := h1.SetPath(ctx, "k", 2); !errors.Is(err, eddy.ErrRecordDiscarded) {
		t.Fatalf("write on a discarded handle: %v", err)
	}
	rb := recGet(t, b, "shared")
	if err := rb.SetPath(ctx, "k", 3); err != nil {
		t.Fatal(err)
	}
	s2.expect(t, "3")
	s1.quiet(t)

	if n := srv.Records().Subscribers("shared"); n != 2 {
		t.Fatalf("%d server subscribers with one handle discarded, want 2", n)
	}

	// After the last Discard the client no longer follows the record (the
	// server drops its subscription); a new Get reads it afresh.
	h2.Discard()
	recEventually(t, "server unsubscription", func() bool { return srv.Records().Subscribers("shared") == 1 })
	if err := rb.SetPath(ctx, "k", 4); err != nil {
		t.Fatal(err)
	}
	s2.quiet(t)
	h3 := recGet(t, a, "shared")
	if string(h3.Get("k")) != "4" || h3.Version() != 3 {
		t.Fatalf("fresh Get: %s v%d", h3.Get("k"), h3.Version())
	}
}

func TestRecordsSubscribeNowAndUnsubscribe(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx := recCtx(t)
	a := dial(t, addrOf(srv, "tcp"))
	ra := recGet(t, a, "now")
	if err := ra.Set(ctx, map[string]any{"p": map[string]any{"q": 1}}); err != nil {
		t.Fatal(err)
	}
	now, missing := newRecValues(), newRecValues()
	unsub := ra.SubscribeNow("p.q", now.fn)
	ra.SubscribeNow("nothing.here", missing.fn)
	now.expect(t, "1")
	missing.expect(t, "<nil>")
	if err := ra.SetPath(ctx, "p.q", 2); err != nil {
		t.Fatal(err)
	}
	now.expect(t, "2")
	// Replacing the parent fires the child; removing it reports nil.
	if err := ra.SetPath(ctx, "p", map[string]any{"q": 3, "r": 1}); err != nil {
		t.Fatal(err)
	}
	now.expect(t, "3")
	if err := ra.SetPath(ctx, "p.r", 2); err != nil {
		t.Fatal(err)
	}
	now.quiet(t)
	if err := ra.Erase(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	now.expect(t, "<nil>")
	unsub()
	if err := ra.SetPath(ctx, "p.q", 5); err != nil {
		t.Fatal(err)
	}
	now.quiet(t)
	missing.quiet(t)
}

func TestRecordsDeleteWhileSubscribed(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range recTransports {
		t.Run(transport, func(t *testing.T) {
			ctx := recCtx(t)
			name := "doomed/" + transport
			a := dial(t, addrOf(srv, transport))
			b := dial(t, addrOf(srv, transport))
			ra := recGet(t, a, name)
			rb := recGet(t, b, name)
			rb2 := recGet(t, b, name)
			if err := ra.SetWithAck(ctx, "v", 1); err != nil {
				t.Fatal(err)
			}
			recEventually(t, "b sees the write", func() bool { return rb.Version() == 1 })
			gone := make(chan string, 8)
			ra.OnDelete(func() { gone <- "a" })
			rb.OnDelete(func() { gone <- "b1" })
			rb2.OnDelete(func() { gone <- "b2" })
			vals := newRecValues()
			rb.Subscribe("v", vals.fn)

			if err := ra.Delete(ctx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for range 3 {
				select {
				case g := <-gone:
					got = append(got, g)
				case <-time.After(10 * time.Second):
					t.Fatalf("OnDelete callbacks: %v", got)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{"a", "b1", "b2"}) {
				t.Fatalf("OnDelete callbacks: %v", got)
			}
			for _, h := range []*eddy.Record{ra, rb, rb2} {
				if err := h.SetPath(ctx, "v", 2); !errors.Is(err, eddy.ErrRecordDeleted) {
					t.Fatalf("write after delete: %v", err)
				}
			}
			if err := rb.Delete(ctx); !errors.Is(err, eddy.ErrRecordDeleted) {
				t.Fatalf("second delete: %v", err)
			}
			vals.quiet(t)
			if v, err := b.Record.Head(ctx, name); err != nil || v != -1 {
				t.Fatalf("Head after delete: %d %v", v, err)
			}
			// A later Get starts over.
			fresh := recGet(t, b, name)
			if fresh.Version() != 0 || string(fresh.Get("")) != "{}" {
				t.Fatalf("Get after delete: v%d %s", fresh.Version(), fresh.Get(""))
			}
			if err := fresh.SetWithAck(ctx, "v", 9); err != nil {
				t.Fatal(err)
			}
			again := recGet(t, a, name)
			if again.Version() != 1 || string(again.Get("v")) != "9" {
				t.Fatalf("a's Get after delete: v%d %s", again.Version(), again.Get(""))
			}
		})
	}
}

func TestRecordsBadInput(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx := recCtx(t)
	var errs []error
	var mu sync.Mutex
	a := dial(t, addrOf(srv, "tcp"), eddy.WithErrorHandler(func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}))
	long := strings.Repeat("n", 600)
	if _, err := a.Record.Get(ctx, long); !errors.Is(err, eddy.ErrInvalidName) {
		t.Fatalf("Get of a too long name: %v", err)
	}
	if _, err := a.Record.Get(ctx, ""); !errors.Is(err, eddy.ErrInvalidName) {
		t.Fatalf("Get of an empty name: %v", err)
	}
	if _, err := a.Record.Snapshot(ctx, long); !errors.Is(err, eddy.ErrInvalidName) {
		t.Fatalf("Snapshot of a too long name: %v", err)
	}
	if err := a.Record.SetData(ctx, long, "a", 1); !errors.Is(err, eddy.ErrInvalidName) {
		t.Fatalf("SetData of a too long name: %v", err)
	}
	r := recGet(t, a, "bad")
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"path a..b", r.SetPath(ctx, "a..b", 1), eddy.ErrInvalidPath},
		{"path tags[x]", r.SetPath(ctx, "tags[x]", 1), eddy.ErrInvalidPath},
		{"path [01]", r.SetWithAck(ctx, "[01]", 1), eddy.ErrInvalidPath},
		{"erase of the root", r.Erase(ctx, ""), eddy.ErrInvalidPath},
		{"not JSON", r.SetPath(ctx, "a", json.RawMessage(`{nope`)), eddy.ErrInvalidData},
		{"not marshallable", r.SetPath(ctx, "a", make(chan int)), eddy.ErrInvalidData},
		{"whole number", r.Set(ctx, 42), eddy.ErrInvalidDocument},
		{"SetData not JSON", a.Record.SetData(ctx, "bad", "a", json.RawMessage(`[1,`)), eddy.ErrInvalidData},
		{"SetData bad path", a.Record.SetData(ctx, "bad", "a.", 1), eddy.ErrInvalidPath},
		{"SetData whole string", a.Record.SetData(ctx, "bad", "", "s"), eddy.ErrInvalidDocument},
	} {
		var e *eddy.Error
		if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &e) || e.Name == "" {
			t.Errorf("%s: got %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	if r.Version() != 0 || string(r.Get("")) != "{}" {
		t.Fatalf("bad writes changed the record: v%d %s", r.Version(), r.Get(""))
	}
	if r.Get("a..b") != nil {
		t.Fatal("Get of an invalid path returned a value")
	}
	r.Subscribe("a..b", func(json.RawMessage) { t.Error("subscription on an invalid path called") })
	recEventually(t, "invalid subscription reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			if errors.Is(e, eddy.ErrInvalidPath) {
				return true
			}
		}
		return false
	})
	// The record still works.
	if err := r.SetWithAck(ctx, "ok", true); err != nil {
		t.Fatal(err)
	}
}

// recObserver follows a record on the wire with a raw client, checking that
// versions arrive contiguously and keeping the document they build.
type recObserver struct {
	t    *testing.T
	c    *enginetest.Client
	name string

	version int64
	doc     []byte
	writes  []string // every value written at path, in version order
	updates int      // whole-document writes seen
	path    string
}

func newRecObserver(t *testing.T, srv *engine.Server, name, path string) *recObserver {
	c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	c.Send(&msg.Msg{Topic: fb.TopicRecord, Action: fb.ActionRead, ID: 1, Name: name})
	v := c.Expect(fb.TopicRecord, fb.ActionReadResult)
	return &recObserver{t: t, c: c, name: name, version: v.Version(), doc: append([]byte(nil), v.DataBytes()...), path: path}
}

// follow reads changes until the observer reaches version.
func (o *recObserver) follow(version int64) {
	t := o.t
	t.Helper()
	for o.version < version {
		v, err := o.c.Next()
		if err != nil {
			t.Fatalf("observer: %v", err)
		}
		if v.Topic() != fb.TopicRecord {
			continue
		}
		if v.Version() != o.version+1 {
			t.Fatalf("observer saw version %d after %d", v.Version(), o.version)
		}
		var err2 error
		switch v.Action() {
		case fb.ActionUpdate:
			o.updates++
			o.doc = append([]byte(nil), v.DataBytes()...)
			if val, ok, _ := jsonpath.Get(o.doc, o.path); ok {
				o.writes = append(o.writes, string(val))
			}
		case fb.ActionPatch:
			o.doc, err2 = jsonpath.Set(nil, o.doc, v.PathString(), v.DataBytes())
			if v.PathString() == o.path {
				o.writes = append(o.writes, string(v.DataBytes()))
			}
		case fb.ActionErasePath:
			o.doc, err2 = jsonpath.Erase(nil, o.doc, v.PathString())
		default:
			t.Fatalf("observer: unexpected %v", v.Action())
		}
		if err2 != nil {
			t.Fatal(err2)
		}
		o.version = v.Version()
	}
}

// recSettle waits until every holder has the server's version and document
// and the observer has followed up to it, and returns the snapshot.
func recSettle(t *testing.T, c *eddy.Client, name string, o *recObserver, holders ...*eddy.Record) eddy.Snapshot {
	t.Helper()
	ctx := recCtx(t)
	var snap eddy.Snapshot
	recEventually(t, "holders to converge", func() bool {
		s, err := c.Record.Snapshot(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		snap = s
		for _, h := range holders {
			if h.Version() != s.Version || !jsonpath.Equal(h.Get(""), s.Data) {
				return false
			}
		}
		return true
	})
	time.Sleep(50 * time.Millisecond) // nothing more in flight
	if s, _ := c.Record.Snapshot(ctx, name); s.Version != snap.Version {
		t.Fatalf("record still changing: v%d then v%d", snap.Version, s.Version)
	}
	if o != nil {
		o.follow(snap.Version)
		if !jsonpath.Equal(o.doc, snap.Data) {
			t.Fatalf("observer built %s, server has %s", o.doc, snap.Data)
		}
	}
	return snap
}

func TestRecordsConcurrentWritersRemoteWins(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range recTransports {
		t.Run(transport, func(t *testing.T) {
			name := "race/" + transport
			a := dial(t, addrOf(srv, transport))
			b := dial(t, addrOf(srv, transport))
			ra := recGet(t, a, name)
			rb := recGet(t, b, name)
			obs := newRecObserver(t, srv, name, "pos")
			const n = 150
			acked := make([][]string, 2)
			conflicts := make([][]string, 2)
			var wg sync.WaitGroup
			for w, h := range []*eddy.Record{ra, rb} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := recCtx(t)
					for i := range n {
						val := fmt.Sprintf("w%d-%d", w, i)
						var err error
						if i%3 == 2 {
							err = h.SetWithAck(ctx, "pos", val)
						} else {
							err = h.SetPath(ctx, "pos", val)
						}
						switch {
						case err == nil && i%3 == 2:
							acked[w] = append(acked[w], `"`+val+`"`)
						case errors.Is(err, eddy.ErrVersionConflict):
							conflicts[w] = append(conflicts[w], `"`+val+`"`)
						case err != nil:
							t.Error(err)
							return
						}
						// Writes to a path only this writer touches.
						if err := h.SetPath(ctx, fmt.Sprintf("own%d", w), i); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			snap := recSettle(t, a, name, obs, ra, rb)
			t.Logf("final v%d, acked %d+%d, conflicts %d+%d", snap.Version, len(acked[0]), len(acked[1]), len(conflicts[0]), len(conflicts[1]))
			// A SetWithAck that reported a conflict was not written.
			for w := range conflicts {
				for _, val := range conflicts[w] {
					if slices.Contains(obs.writes, val) {
						t.Fatalf("write %s of writer %d reported a conflict but reached the server", val, w)
					}
				}
			}
			// Every acknowledged write was accepted: the observer saw it.
			for w := range acked {
				for _, val := range acked[w] {
					if !slices.Contains(obs.writes, val) {
						t.Fatalf("acknowledged write %s of writer %d never reached the server", val, w)
					}
				}
			}
			// The last accepted value is the final one.
			var final string
			if v, ok, _ := jsonpath.Get(snap.Data, "pos"); ok {
				final = string(v)
			}
			if len(obs.writes) == 0 || obs.writes[len(obs.writes)-1] != final {
				t.Fatalf("final pos %s, last accepted write %v", final, obs.writes[len(obs.writes)-1:])
			}
		})
	}
}

func TestRecordsConcurrentWritersCustomMerge(t *testing.T) {
	// On disk, SetWithAck waits for a synced batch, so both writers keep a
	// similar pace. (A writer that never pauses can starve another's merges;
	// see MaxMergeAttempts.)
	dir := t.TempDir()
	srv := enginetest.Start(t, func(o *engine.Options) { o.Store.Engine, o.Store.Path = "pebble", dir })
	// union keeps every top-level key of both sides: the writers only add
	// keys, so no write may be lost.
	var merges sync.Map
	union := func(who string) eddy.MergeFunc {
		return func(local, remote json.RawMessage, lv, rv int64) (json.RawMessage, error) {
			n, _ := merges.LoadOrStore(who, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			var l, r map[string]json.RawMessage
			if err := json.Unmarshal(local, &l); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(remote, &r); err != nil {
				return nil, err
			}
			for k, v := range l {
				if _, ok := r[k]; !ok {
					r[k] = v
				}
			}
			return json.Marshal(r)
		}
	}
	a := dial(t, addrOf(srv, "tcp"), eddy.WithMergeStrategy(eddy.MergeWith(union("a"))), eddy.WithLogger(recLogger("a")))
	b := dial(t, addrOf(srv, "ws"), eddy.WithLogger(recLogger("b")))
	b.Record.SetMergeStrategyPattern(regexp.MustCompile(`^sets/`), eddy.MergeWith(union("b")))
	name := "sets/1"
	ra := recGet(t, a, name)
	rb := recGet(t, b, name)
	obs := newRecObserver(t, srv, name, "")
	const n = 60
	var wg sync.WaitGroup
	for w, h := range []*eddy.Record{ra, rb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := recCtx(t)
			for i := range n {
				// A little jitter: two writers at a human-ish pace that still
				// collide often, rather than one starving the other.
				time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
				key := fmt.Sprintf("w%d_%d", w, i)
				var err error
				if i%2 == 0 {
					err = h.SetWithAck(ctx, key, i)
				} else {
					err = h.SetPath(ctx, key, i)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	snap := recSettle(t, a, name, obs, ra, rb)
	var got map[string]int
	if err := json.Unmarshal(snap.Data, &got); err != nil {
		t.Fatal(err)
	}
	for w := range 2 {
		for i := range n {
			if v, ok := got[fmt.Sprintf("w%d_%d", w, i)]; !ok || v != i {
				t.Fatalf("write w%d_%d lost: %s", w, i, snap.Data)
			}
		}
	}
	count := func(who string) int64 {
		if n, ok := merges.Load(who); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	t.Logf("final v%d with %d keys; merges a=%d b=%d", snap.Version, len(got), count("a"), count("b"))
	if count("a")+count("b") == 0 {
		t.Fatal("the writers never conflicted")
	}
}

func TestRecordsLocalWins(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx := recCtx(t)
	var gaveUp sync.Map
	a := dial(t, addrOf(srv, "tcp"), eddy.WithErrorHandler(func(err error) {
		if errors.Is(err, eddy.ErrVersionConflict) {
			gaveUp.Store(err.Error(), true)
		}
	}))
	a.Record.SetMergeStrategy("lw", eddy.LocalWins)
	b := dial(t, addrOf(srv, "tcp"))
	ra := recGet(t, a, "lw")
	rb := recGet(t, b, "lw")
	obs := newRecObserver(t, srv, "lw", "")
	// Both write as fast as they can until a conflict made a write its
	// whole document over the server's (the only Updates on the wire: both
	// writers only write paths).
	const n = 50
	for round := 1; obs.updates == 0; round++ {
		if round > 20 {
			t.Fatal("no conflict in 20 rounds")
		}
		var wg sync.WaitGroup
		for w, h := range []*eddy.Record{ra, rb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; i <= n; i++ {
					if err := h.SetPath(ctx, fmt.Sprintf("w%d", w), round*n+i); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		snap := recSettle(t, a, "lw", obs, ra, rb)
		gaveUp.Range(func(k, _ any) bool { t.Fatalf("merge gave up: %v", k); return false })
		// a never loses: its last write is on the server.
		if v, _, _ := jsonpath.Get(snap.Data, "w0"); string(v) != fmt.Sprint(round*n+n) {
			t.Fatalf("round %d: local wins lost a's write: %s", round, snap.Data)
		}
		t.Logf("round %d: v%d %s, %d merges", round, snap.Version, snap.Data, obs.updates)
	}
}

func TestRecordsLists(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range recTransports {
		t.Run(transport, func(t *testing.T) {
			ctx := recCtx(t)
			name := "drivers/" + transport
			a := dial(t, addrOf(srv, transport))
			b := dial(t, addrOf(srv, transport))
			la, lb := recList(t, a, name), recList(t, b, name)
			if !la.IsEmpty() {
				t.Fatalf("new list: %v", la.Entries())
			}
			events := make(chan string, 100)
			lb.OnEntryAdded(func(e string, i int) { events <- fmt.Sprintf("+%s@%d", e, i) })
			lb.OnEntryRemoved(func(e string, i int) { events <- fmt.Sprintf("-%s@%d", e, i) })
			lb.OnEntryMoved(func(e string, i int) { events <- fmt.Sprintf("~%s@%d", e, i) })
			lb.Subscribe(func(entries []string) { events <- "=" + strings.Join(entries, ",") })
			expect := func(want ...string) {
				t.Helper()
				for _, w := range want {
					select {
					case got := <-events:
						if got != w {
							t.Fatalf("list event %q, want %q", got, w)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("no list event, want %q", w)
					}
				}
			}
			if err := la.SetEntries(ctx, []string{"driver/1", "driver/2"}); err != nil {
				t.Fatal(err)
			}
			expect("+driver/1@0", "+driver/2@1", "=driver/1,driver/2")
			if err := la.AddEntry(ctx, "driver/3"); err != nil {
				t.Fatal(err)
			}
			expect("+driver/3@2", "=driver/1,driver/2,driver/3")
			if err := la.AddEntryAt(ctx, "driver/0", 0); err != nil {
				t.Fatal(err)
			}
			expect("+driver/0@0", "=driver/0,driver/1,driver/2,driver/3")
			if err := la.RemoveEntry(ctx, "driver/1"); err != nil {
				t.Fatal(err)
			}
			expect("-driver/1@1", "=driver/0,driver/2,driver/3")
			if err := la.Move(ctx, 2, 0); err != nil {
				t.Fatal(err)
			}
			expect("~driver/3@0", "=driver/3,driver/0,driver/2")
			if err := la.RemoveEntryAt(ctx, 1); err != nil {
				t.Fatal(err)
			}
			expect("-driver/0@1", "=driver/3,driver/2")
			if err := la.Move(ctx, 5, 0); err == nil {
				t.Fatal("Move out of range succeeded")
			}
			if err := la.AddEntry(ctx, ""); !errors.Is(err, eddy.ErrInvalidName) {
				t.Fatalf("AddEntry of an empty name: %v", err)
			}
			// b writes too; a sees it.
			if err := lb.AddEntry(ctx, "driver/9"); err != nil {
				t.Fatal(err)
			}
			expect("+driver/9@2", "=driver/3,driver/2,driver/9")
			recEventually(t, "a sees b's entry", func() bool {
				return slices.Equal(la.Entries(), []string{"driver/3", "driver/2", "driver/9"})
			})
			if la.Version() != lb.Version() {
				t.Fatalf("versions differ: %d %d", la.Version(), lb.Version())
			}
		})
	}
}

func TestRecordsAnonymous(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx := recCtx(t)
	a := dial(t, addrOf(srv, "tcp"))
	b := dial(t, addrOf(srv, "ws"))
	for i, n := range []string{"car/1", "car/2"} {
		if err := b.Record.SetData(ctx, n, "", map[string]any{"color": []string{"red", "blue"}[i], "speed": i}); err != nil {
			t.Fatal(err)
		}
	}
	anon := a.Record.GetAnonymousRecord()
	defer anon.Discard()
	if err := anon.SetPath(ctx, "x", 1); !errors.Is(err, eddy.ErrNoName) {
		t.Fatalf("write before SetName: %v", err)
	}
	if anon.Get("color") != nil || anon.Name() != "" {
		t.Fatal("anonymous record has data before SetName")
	}
	color := newRecValues()
	anon.Subscribe("color", color.fn)
	names := make(chan string, 4)
	anon.OnNameChanged(func(n string) { names <- n })

	if err := anon.SetName(ctx, "car/1"); err != nil {
		t.Fatal(err)
	}
	color.expect(t, `"red"`)
	if got := <-names; got != "car/1" {
		t.Fatalf("OnNameChanged %q", got)
	}
	if err := b.Record.SetData(ctx, "car/1", "color", "green"); err != nil {
		t.Fatal(err)
	}
	color.expect(t, `"green"`)

	if err := anon.SetName(ctx, "car/2"); err != nil {
		t.Fatal(err)
	}
	color.expect(t, `"blue"`)
	if anon.Name() != "car/2" || string(anon.Get("speed")) != "1" {
		t.Fatalf("after SetName: %s %s", anon.Name(), anon.Get(""))
	}
	// The old record no longer reaches the subscription.
	if err := b.Record.SetData(ctx, "car/1", "color", "black"); err != nil {
		t.Fatal(err)
	}
	color.quiet(t)
	if err := anon.SetWithAck(ctx, "color", "white"); err != nil {
		t.Fatal(err)
	}
	color.expect(t, `"white"`)
	if snap, _ := b.Record.Snapshot(ctx, "car/2"); !strings.Contains(string(snap.Data), `"white"`) {
		t.Fatalf("anonymous write not on the server: %s", snap.Data)
	}
	if err := anon.SetName(ctx, strings.Repeat("x", 600)); !errors.Is(err, eddy.ErrInvalidName) {
		t.Fatalf("SetName of a bad name: %v", err)
	}
	if anon.Name() != "car/2" {
		t.Fatalf("failed SetName changed the name to %q", anon.Name())
	}
}

// TestRecordsReconnectCatchUp stops the server, writes through another
// client while the first is away, and checks the first catches up: its
// copy, version and path subscriptions, and the write it made offline.
func TestRecordsReconnectCatchUp(t *testing.T) {
	dir := t.TempDir()
	pebble := func(tcp, ws string) func(*engine.Options) {
		return func(o *engine.Options) {
			o.Store.Engine, o.Store.Path, o.HTTP.Addr = "pebble", dir, "off"
			o.Net.TCPAddr, o.Net.WSAddr = tcp, ws
		}
	}
	tcpAddr, wsAddr := enginetest.RestartAddrs(t)
	srv := enginetest.Start(t, pebble(tcpAddr, wsAddr))
	ctx := recCtx(t)
	states, waitState := recStates()
	// a goes through a proxy held cut until c has written to the restarted
	// server, so that c's writes are not concurrent with a's queued ones.
	proxy := newCutProxy(t, wsAddr)
	a := dial(t, "ws://"+proxy.ln.Addr().String()+"/", eddy.WithReconnect(300*time.Millisecond, 300*time.Millisecond), states)
	ra := recGet(t, a, "track")
	rq := recGet(t, a, "quiet")
	if err := ra.Set(ctx, map[string]any{"lap": 1, "pos": map[string]any{"x": 1, "y": 1}, "same": "s"}); err != nil {
		t.Fatal(err)
	}
	if err := ra.SetWithAck(ctx, "pos.x", 2); err != nil {
		t.Fatal(err)
	}
	if err := rq.SetWithAck(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	lap, x, same, qv := newRecValues(), newRecValues(), newRecValues(), newRecValues()
	ra.Subscribe("lap", lap.fn)
	ra.Subscribe("pos.x", x.fn)
	ra.Subscribe("same", same.fn)
	rq.Subscribe("", qv.fn)

	proxy.setCut(true)
	waitState(t, eddy.Reconnecting)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		t.Fatal(err)
	}
	// A write while disconnected applies locally and is queued.
	if err := ra.SetPath(ctx, "offline", "yes"); err != nil {
		t.Fatal(err)
	}
	if string(ra.Get("offline")) != `"yes"` {
		t.Fatal("offline write not applied locally")
	}
	if _, err := a.Record.Head(ctx, "track"); !errors.Is(err, eddy.ErrNotConnected) {
		t.Fatalf("Head while disconnected: %v", err)
	}

	// Get waits for the connection; SetWithAck of a queued write waits
	// for the write to be sent after the reconnect and acknowledged.
	late := make(chan error, 2)
	go func() {
		r, err := a.Record.Get(ctx, "late")
		if err == nil {
			err = r.SetWithAck(ctx, "k", 1)
			r.Discard()
		}
		late <- err
	}()
	go func() { late <- ra.SetWithAck(ctx, "acked", true) }()

	srv2 := enginetest.Start(t, pebble(tcpAddr, wsAddr))
	c := dial(t, addrOf(srv2, "tcp"))
	rc := recGet(t, c, "track")
	if rc.Version() != 2 || string(rc.Get("pos.x")) != "2" {
		t.Fatalf("after restart: v%d %s", rc.Version(), rc.Get(""))
	}
	if err := rc.SetPath(ctx, "lap", 2); err != nil {
		t.Fatal(err)
	}
	if err := rc.SetPath(ctx, "pos.x", 3); err != nil {
		t.Fatal(err)
	}
	if err := rc.SetWithAck(ctx, "pos.x", 4); err != nil {
		t.Fatal(err)
	}

	proxy.setCut(false)
	waitState(t, eddy.Open)
	recEventually(t, "catch-up", func() bool {
		return string(ra.Get("offline")) == `"yes"` && string(rc.Get("offline")) == `"yes"` && ra.Version() == rc.Version()
	})
	if ra.Version() < 6 || !jsonpath.Equal(ra.Get(""), rc.Get("")) {
		t.Fatalf("caught up to v%d %s; server side v%d %s", ra.Version(), ra.Get(""), rc.Version(), rc.Get(""))
	}
	for range 2 {
		if err := <-late; err != nil {
			t.Fatalf("call made while disconnected: %v", err)
		}
	}
	if string(rc.Get("acked")) == "" {
		recEventually(t, "acked offline write at c", func() bool { return string(rc.Get("acked")) == "true" })
	}
	lap.expect(t, "2")
	x.expect(t, "4") // changed twice while away: one call with the value now
	lap.quiet(t)
	x.quiet(t)
	same.quiet(t)
	qv.quiet(t) // unchanged record: nothing fired
	if string(rq.Get("k")) != `"v"` || rq.Version() != 1 {
		t.Fatalf("quiet record: v%d %s", rq.Version(), rq.Get(""))
	}
	// Both directions work after the reconnect.
	if err := ra.SetWithAck(ctx, "lap", 3); err != nil {
		t.Fatal(err)
	}
	recEventually(t, "c sees a's write", func() bool { return string(rc.Get("lap")) == "3" })
	if err := rc.SetPath(ctx, "lap", 4); err != nil {
		t.Fatal(err)
	}
	lap.expect(t, "3", "4")
}

func recLogger(who string) *slog.Logger {
	if os.Getenv("EDDY_SDK_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("client", who)
}

// TestRecordsServerLostData restarts a server that kept nothing (memory
// store): on reconnect the client's version is ahead of the server's, so
// it fetches the server's document and takes it.
func TestRecordsServerLostData(t *testing.T) {
	tcpAddr, wsAddr := enginetest.RestartAddrs(t)
	srv := enginetest.Start(t, func(o *engine.Options) { o.HTTP.Addr, o.Net.TCPAddr, o.Net.WSAddr = "off", tcpAddr, wsAddr })
	ctx := recCtx(t)
	a := dial(t, addrOf(srv, "tcp"), eddy.WithReconnect(50*time.Millisecond, 100*time.Millisecond))
	ra := recGet(t, a, "volatile")
	if err := ra.Set(ctx, map[string]any{"k": "v", "n": 3}); err != nil {
		t.Fatal(err)
	}
	if err := ra.SetWithAck(ctx, "n", 4); err != nil {
		t.Fatal(err)
	}
	k := newRecValues()
	ra.Subscribe("k", k.fn)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		t.Fatal(err)
	}
	enginetest.Start(t, func(o *engine.Options) { o.HTTP.Addr, o.Net.TCPAddr, o.Net.WSAddr = "off", tcpAddr, wsAddr })
	k.expect(t, "<nil>")
	if ra.Version() != 0 || string(ra.Get("")) != "{}" {
		t.Fatalf("after the server lost the record: v%d %s", ra.Version(), ra.Get(""))
	}
	if err := ra.SetWithAck(ctx, "k", "again"); err != nil {
		t.Fatal(err)
	}
	k.expect(t, `"again"`)
	if ra.Version() != 1 {
		t.Fatalf("version %d after a write on the new server", ra.Version())
	}
}

// Two clients add entries to one list as fast as they can, under the
// default RemoteWins: a list operation that lost a version race is applied
// again on top of the server's list, so every addition of both ends up in
// it, once, and both clients and the server agree.
func TestRecordsListConcurrentAdds(t *testing.T) {
	srv := enginetest.Start(t, nil)
	for _, transport := range recTransports {
		t.Run(transport, func(t *testing.T) {
			ctx := recCtx(t)
			name := "queue/" + transport
			a := dial(t, addrOf(srv, transport))
			b := dial(t, addrOf(srv, transport))
			lists := [2]*eddy.List{recList(t, a, name), recList(t, b, name)}
			const n = 200
			var wg sync.WaitGroup
			for w, l := range lists {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range n {
						if err := l.AddEntry(ctx, fmt.Sprintf("w%d/%d", w, i)); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			var final []string
			recEventually(t, "both lists to hold every entry", func() bool {
				s, err := a.Record.Snapshot(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				var entries []string
				if json.Unmarshal(s.Data, &entries) != nil || len(entries) != 2*n {
					return false
				}
				final = entries
				return slices.Equal(lists[0].Entries(), entries) && slices.Equal(lists[1].Entries(), entries)
			})
			seen := map[string]bool{}
			next := [2]int{}
			for _, e := range final {
				if seen[e] {
					t.Fatalf("entry %s twice in %v", e, final)
				}
				seen[e] = true
				var w, i int
				if _, err := fmt.Sscanf(e, "w%d/%d", &w, &i); err != nil || w < 0 || w > 1 {
					t.Fatalf("unexpected entry %q", e)
				}
				// Each writer's entries keep the order it added them in.
				if i != next[w] {
					t.Fatalf("writer %d's entry %d after %d: %v", w, i, next[w]-1, final)
				}
				next[w]++
			}
		})
	}
}

// cutProxy forwards TCP connections to a server until cut: then it drops
// every connection and refuses new ones until resumed.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return "tcp://" + p.ln.Addr().String() }

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

// List operations made offline are applied again to the server's list
// after the reconnect, so entries another client added meanwhile stay.
func TestRecordsListOfflineChanges(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx := recCtx(t)
	proxy := newCutProxy(t, srv.TCPAddr())
	states, waitState := recStates()
	a := dial(t, proxy.addr(), eddy.WithReconnect(50*time.Millisecond, 100*time.Millisecond), states)
	b := dial(t, addrOf(srv, "tcp"))
	const name = "offline/list"
	la, lb := recList(t, a, name), recList(t, b, name)
	if err := la.AddEntry(ctx, "a0"); err != nil {
		t.Fatal(err)
	}
	recEventually(t, "b to see a0", func() bool { return slices.Equal(lb.Entries(), []string{"a0"}) })

	proxy.setCut(true)
	waitState(t, eddy.Reconnecting)
	for _, e := range []string{"a1", "a2"} {
		if err := la.AddEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// By index: the entries they name are found again in the server's list.
	if err := la.RemoveEntryAt(ctx, 0); err != nil { // a0
		t.Fatal(err)
	}
	if err := la.Move(ctx, 1, 0); err != nil { // a2 to the front
		t.Fatal(err)
	}
	if got := la.Entries(); !slices.Equal(got, []string{"a2", "a1"}) {
		t.Fatalf("a's list while offline: %v", got)
	}
	if err := lb.AddEntryAt(ctx, "b1", 0); err != nil {
		t.Fatal(err)
	}
	recEventually(t, "the server to have b1", func() bool {
		s, err := b.Record.Snapshot(ctx, name)
		return err == nil && string(s.Data) == `["b1","a0"]`
	})
	proxy.setCut(false)
	want := []string{"a2", "b1", "a1"}
	recEventually(t, "both lists to hold every change", func() bool {
		return slices.Equal(la.Entries(), want) && slices.Equal(lb.Entries(), want)
	})
}

// An addition sent just before the connection drops may or may not have
// reached the server: after the reconnect it is in the list exactly once
// either way, next to what another client added meanwhile.
func TestRecordsListAddInFlightWhenCut(t *testing.T) {
	srv := enginetest.Start(t, nil)
	ctx := recCtx(t)
	b := dial(t, addrOf(srv, "tcp"))
	for round := range 20 {
		proxy := newCutProxy(t, srv.TCPAddr())
		a := dial(t, proxy.addr(), eddy.WithReconnect(20*time.Millisecond, 50*time.Millisecond))
		name := fmt.Sprintf("inflight/%d", round)
		la, lb := recList(t, a, name), recList(t, b, name)
		if err := la.AddEntry(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		}
		proxy.setCut(true)
		if err := lb.AddEntry(ctx, "y"); err != nil {
			t.Fatal(err)
		}
		proxy.setCut(false)
		recEventually(t, "both lists to hold x and y once", func() bool {
			ea, eb := la.Entries(), lb.Entries()
			slices.Sort(ea)
			slices.Sort(eb)
			return slices.Equal(ea, []string{"x", "y"}) && slices.Equal(eb, []string{"x", "y"})
		})
		a.Close()
	}
}
