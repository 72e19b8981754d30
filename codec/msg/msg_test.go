package msg

import (
	"bytes"
	"errors"
	"testing"

	"github.com/eddy-realtime/eddy/protocol/fb"
)

func full() *Msg {
	return &Msg{
		Topic: fb.TopicRecord, Action: fb.ActionPatch, Flags: fb.FlagsWantAck | fb.FlagsForced,
		ID: 1<<40 + 7, Name: "driver/14", Path: "position.x", Version: 42,
		Data: []byte(`{"x":1}`), Names: []string{"a", "bb", ""}, Code: 41, Reason: "why",
		User: "ann", TimeoutMs: 500, AcceptTimeoutMs: 100,
	}
}

func TestRoundTrip(t *testing.T) {
	m := full()
	buf := Append(nil, m)
	var v View
	if err := v.Reset(buf); err != nil {
		t.Fatal(err)
	}
	if v.Topic() != m.Topic || v.Action() != m.Action || fb.Flags(v.Flags()) != m.Flags || v.Id() != m.ID ||
		string(v.Name()) != m.Name || v.PathString() != m.Path || v.Version() != m.Version ||
		!bytes.Equal(v.DataBytes(), m.Data) || v.Code() != m.Code || string(v.Reason()) != m.Reason ||
		string(v.User()) != m.User || v.TimeoutMs() != m.TimeoutMs || v.AcceptTimeoutMs() != m.AcceptTimeoutMs {
		t.Fatalf("round trip mismatch")
	}
	if v.NamesLength() != 3 || string(v.NamesAt(1)) != "bb" || string(v.NamesAt(2)) != "" {
		t.Fatalf("names mismatch")
	}
	if !v.Has(fb.FlagsWantAck) || v.Has(fb.FlagsImmediate) {
		t.Fatal("flags")
	}
}

func TestZeroVersionWrittenWhenAsked(t *testing.T) {
	buf := Append(nil, &Msg{Topic: fb.TopicRecord, Action: fb.ActionHeadResult, HasVersion: true})
	var v View
	if err := v.Reset(buf); err != nil {
		t.Fatal(err)
	}
	if !v.MutateVersion(9) || v.Version() != 9 {
		t.Fatal("version slot not present")
	}
	buf = Append(nil, &Msg{Topic: fb.TopicRecord, Action: fb.ActionHeadResult})
	_ = v.Reset(buf)
	if v.MutateVersion(9) {
		t.Fatal("version slot present though zero and not asked")
	}
}

func TestVerifyRejectsEveryTruncation(t *testing.T) {
	buf := Append(nil, full())
	for i := 0; i < len(buf); i++ {
		if err := Verify(buf[:i]); err == nil {
			// A prefix can only be valid if nothing it references was cut.
			var v View
			_ = v.Reset(buf[:i])
			_ = v.DataBytes()
			_ = v.Reason()
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncation %d: error %v does not wrap ErrMalformed", i, err)
		}
	}
	if err := Verify(buf[:len(buf)/2]); err == nil {
		t.Fatal("half a message verified")
	}
}

func TestVerifyRejectsGarbageOffsets(t *testing.T) {
	base := Append(nil, full())
	for i := 0; i < len(base); i++ {
		for _, b := range []byte{0x00, 0x7f, 0x80, 0xff} {
			buf := append([]byte(nil), base...)
			buf[i] = b
			if Verify(buf) == nil {
				var v View
				if err := v.Reset(buf); err != nil {
					t.Fatal(err)
				}
				touchAll(&v) // must not panic
			}
		}
	}
}

func touchAll(v *View) {
	_, _, _, _ = v.Topic(), v.Action(), v.Flags(), v.Id()
	_, _, _, _ = v.Name(), v.Path(), v.Version(), v.DataBytes()
	for i := 0; i < v.NamesLength(); i++ {
		_ = v.NamesAt(i)
	}
	_, _, _, _, _ = v.Code(), v.Reason(), v.User(), v.TimeoutMs(), v.AcceptTimeoutMs()
}

func FuzzVerify(f *testing.F) {
	f.Add(Append(nil, full()))
	f.Add(Append(nil, &Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "news", Data: []byte(`1`)}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var v View
		if v.Reset(b) != nil {
			return
		}
		touchAll(&v)
		// decode -> encode -> decode keeps every field.
		m := Msg{Topic: v.Topic(), Action: v.Action(), Flags: fb.Flags(v.Flags()), ID: v.Id(),
			Name: string(v.Name()), Path: string(v.Path()), Version: v.Version(), Data: v.DataBytes(),
			Code: v.Code(), Reason: string(v.Reason()), User: string(v.User()), HasVersion: true,
			TimeoutMs: v.TimeoutMs(), AcceptTimeoutMs: v.AcceptTimeoutMs()}
		for i := 0; i < v.NamesLength(); i++ {
			m.Names = append(m.Names, string(v.NamesAt(i)))
		}
		var w View
		if err := w.Reset(Append(nil, &m)); err != nil {
			t.Fatalf("re-encoded message does not verify: %v", err)
		}
		if w.Version() != m.Version || string(w.Name()) != m.Name || !bytes.Equal(w.DataBytes(), m.Data) ||
			w.NamesLength() != len(m.Names) || w.Id() != m.ID || w.Action() != m.Action {
			t.Fatal("round trip changed the message")
		}
	})
}
