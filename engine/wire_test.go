package engine_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

type dialer func(t testing.TB, srv *engine.Server) *enginetest.Client

var transports = map[string]dialer{
	"tcp": func(t testing.TB, srv *engine.Server) *enginetest.Client { return enginetest.DialTCP(t, srv.TCPAddr()) },
	"ws": func(t testing.TB, srv *engine.Server) *enginetest.Client {
		return enginetest.DialWS(t, srv.WSAddr(), false)
	},
	"ws-deflate": func(t testing.TB, srv *engine.Server) *enginetest.Client {
		return enginetest.DialWS(t, srv.WSAddr(), true)
	},
}

func TestEventsFanOutOverEveryTransport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, nil))
		var subs []*enginetest.Client
		for name, dial := range transports {
			for i := 0; i < 3; i++ {
				c := dial(t, srv).Open()
				c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 7, Names: []string{"news/sport", "other"}})
				if v := c.Expect(fb.TopicEvent, fb.ActionAck); v.Id() != 7 {
					t.Fatalf("%s: ack id %d", name, v.Id())
				}
				subs = append(subs, c)
			}
		}
		pub := subs[0]
		const n = 200
		for i := 0; i < n; i++ {
			data := fmt.Sprintf(`{"i":%d,"pad":"%0600d"}`, i, i) // > CompressMin: deflate path too
			pub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "news/sport", Data: []byte(data)})
		}
		for si, c := range subs[1:] {
			for i := 0; i < n; i++ {
				v := c.Expect(fb.TopicEvent, fb.ActionEmit)
				want := fmt.Sprintf(`{"i":%d,"pad":"%0600d"}`, i, i)
				if string(v.Name()) != "news/sport" || string(v.DataBytes()) != want {
					t.Fatalf("subscriber %d event %d: got %q %q", si+1, i, v.Name(), v.DataBytes())
				}
			}
		}
		// The publisher is never sent its own events: the next thing it sees is
		// the answer to a ping.
		pub.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 99})
		if v := pub.Expect(fb.TopicConnection, fb.ActionPong); v.Id() != 99 {
			t.Fatalf("pong id %d", v.Id())
		}
	})
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, nil))
		a := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		b := enginetest.DialTCP(t, srv.TCPAddr()).Open()
		a.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 1, Name: "x"})
		a.Expect(fb.TopicEvent, fb.ActionAck)
		a.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionUnsubscribe, ID: 2, Name: "x"})
		a.Expect(fb.TopicEvent, fb.ActionAck)
		b.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x", Data: []byte(`1`), ID: 3})
		b.Expect(fb.TopicEvent, fb.ActionAck)
		a.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 4})
		a.Expect(fb.TopicConnection, fb.ActionPong) // no Emit in between
		if srv.Events().Len() != 0 {
			t.Fatalf("event table holds %d names", srv.Events().Len())
		}
	})
}

// TestEventDataMustBeJSON: an Emit whose data is not JSON is refused with
// InvalidData, with or without an id, and reaches no subscriber; an Emit
// with no data, or with JSON, is delivered.
func TestEventDataMustBeJSON(t *testing.T) {
	srv := enginetest.Start(t, nil)
	sub := enginetest.DialTCP(t, srv.TCPAddr()).Open()
	pub := enginetest.DialWS(t, srv.WSAddr(), false).Open()
	sub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 1, Name: "x"})
	sub.Expect(fb.TopicEvent, fb.ActionAck)
	for i, data := range []string{`not json`, `{"a":1`, "\"\xff\"", `1 2`} {
		pub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x", Data: []byte(data), ID: uint64(10 + i)})
		v := pub.Expect(fb.TopicEvent, fb.ActionError)
		if protocol.Code(v.Code()) != protocol.CodeInvalidData || v.Id() != uint64(10+i) || string(v.Name()) != "x" {
			t.Fatalf("emit of %q: code %d id %d name %q (%s)", data, v.Code(), v.Id(), v.Name(), v.Reason())
		}
	}
	pub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x", Data: []byte(`nope`)})
	if v := pub.Expect(fb.TopicEvent, fb.ActionError); protocol.Code(v.Code()) != protocol.CodeInvalidData {
		t.Fatalf("emit without id: code %d", v.Code())
	}
	pub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x"})
	pub.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x", Data: []byte(` {"ok":true} `)})
	// The subscriber's first deliveries are the two valid ones, in order.
	if v := sub.Expect(fb.TopicEvent, fb.ActionEmit); len(v.DataBytes()) != 0 {
		t.Fatalf("first delivery %q, want the one without data", v.DataBytes())
	}
	if v := sub.Expect(fb.TopicEvent, fb.ActionEmit); string(v.DataBytes()) != ` {"ok":true} ` {
		t.Fatalf("second delivery %q", v.DataBytes())
	}
}

func TestHandshakeRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, nil))
		for name, dial := range transports {
			t.Run(name+"/wrong first message", func(t *testing.T) {
				c := dial(t, srv)
				c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x"})
				if code := c.ExpectClose(); code != protocol.CodeHandshakeRequired {
					t.Fatalf("close code %v", code)
				}
			})
			t.Run(name+"/unknown version", func(t *testing.T) {
				c := dial(t, srv)
				c.Send(&msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: 99})
				if code := c.ExpectClose(); code != protocol.CodeUnsupportedVersion {
					t.Fatalf("close code %v", code)
				}
			})
			t.Run(name+"/not logged in", func(t *testing.T) {
				c := dial(t, srv)
				c.Handshake()
				c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 5, Name: "x"})
				v := c.Expect(fb.TopicEvent, fb.ActionError)
				if protocol.Code(v.Code()) != protocol.CodeNotAuthenticated || v.Id() != 5 {
					t.Fatalf("got code %d id %d", v.Code(), v.Id())
				}
			})
		}
	})
}

func TestMalformedInputClosesWithoutPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, nil))
		good := msg.Append(nil, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "news", Data: []byte(`{"a":1}`)})
		cases := map[string][]byte{
			"empty":     {},
			"truncated": good[:len(good)/2],
			"garbage offsets": func() []byte {
				b := append([]byte(nil), good...)
				binary.LittleEndian.PutUint32(b, 0xfffffff0)
				return b
			}(),
			"random": []byte("this is not a flatbuffer at all....."),
		}
		for name, payload := range cases {
			for tname, dial := range transports {
				t.Run(tname+"/"+name, func(t *testing.T) {
					c := dial(t, srv).Open()
					c.SendRaw(payload)
					if code := c.ExpectClose(); code != protocol.CodeProtocolError {
						t.Fatalf("close code %v", code)
					}
				})
			}
		}
		t.Run("unknown action", func(t *testing.T) {
			c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
			c.Send(&msg.Msg{Topic: fb.TopicEvent, Action: fb.Action(250), ID: 9, Name: "x"})
			v := c.Expect(fb.TopicEvent, fb.ActionError)
			if protocol.Code(v.Code()) != protocol.CodeUnknownAction || v.Id() != 9 {
				t.Fatalf("code %d id %d", v.Code(), v.Id())
			}
		})
		t.Run("oversize tcp frame", func(t *testing.T) {
			c := enginetest.DialTCP(t, srv.TCPAddr()).Open()
			var hdr [4]byte
			binary.LittleEndian.PutUint32(hdr[:], 64<<20)
			_, _ = c.Conn().Write(hdr[:])
			if code := c.ExpectClose(); code != protocol.CodeMessageTooLarge {
				t.Fatalf("close code %v", code)
			}
		})
		// The server still serves after all of that.
		enginetest.DialTCP(t, srv.TCPAddr()).Open()
	})
}
