package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/eddy-realtime/eddy/codec/msg"
	"github.com/eddy-realtime/eddy/engine"
	"github.com/eddy-realtime/eddy/engine/enginetest"
	"github.com/eddy-realtime/eddy/protocol"
	"github.com/eddy-realtime/eddy/protocol/fb"
)

// These tests drive the server's WebSocket with an independent client
// library, so our codec is checked against someone else's reading of RFC 6455.

func gorillaDial(t *testing.T, srv *engine.Server, compress bool, writeBuf int) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{EnableCompression: compress, WriteBufferSize: writeBuf, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+srv.WSAddr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	negotiated := strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	if negotiated != compress {
		t.Fatalf("deflate negotiated=%v, asked %v", negotiated, compress)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func gSend(t *testing.T, c *websocket.Conn, m *msg.Msg) {
	t.Helper()
	if err := c.WriteMessage(websocket.BinaryMessage, msg.Append(nil, m)); err != nil {
		t.Fatal(err)
	}
}

// gExpect reads messages, skipping pings, until one has topic/action.
func gExpect(t *testing.T, c *websocket.Conn, topic fb.Topic, action fb.Action) *msg.View {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != websocket.BinaryMessage {
			t.Fatalf("message type %d", typ)
		}
		var v msg.View
		if err := v.Reset(p); err != nil {
			t.Fatal(err)
		}
		if v.Topic() == fb.TopicConnection && v.Action() == fb.ActionPing {
			continue
		}
		if v.Topic() != topic || v.Action() != action {
			t.Fatalf("got %s/%s (%s)", fb.EnumNamesTopic[v.Topic()], fb.EnumNamesAction[v.Action()], v.Reason())
		}
		return &v
	}
}

func gOpen(t *testing.T, c *websocket.Conn) {
	t.Helper()
	gSend(t, c, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionHandshake, Name: protocol.Name, Version: protocol.Version})
	gExpect(t, c, fb.TopicConnection, fb.ActionHandshakeAck)
	gSend(t, c, &msg.Msg{Topic: fb.TopicAuth, Action: fb.ActionLogin, ID: 1, Data: []byte(`{"username":"ann"}`)})
	if v := gExpect(t, c, fb.TopicAuth, fb.ActionLoginResult); string(v.User()) != "ann" {
		t.Fatalf("user %q", v.User())
	}
}

func TestWebSocketInterop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, nil))
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("deflate=%v", compress), func(t *testing.T) {
				// A 256-byte write buffer makes the client fragment every larger message.
				sub := gorillaDial(t, srv, compress, 256)
				pub := gorillaDial(t, srv, compress, 256)
				gOpen(t, sub)
				gOpen(t, pub)
				gSend(t, sub, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionSubscribe, ID: 2, Name: "big"})
				gExpect(t, sub, fb.TopicEvent, fb.ActionAck)
				for _, size := range []int{10, 300, 5000, 70000} {
					data := []byte(`"` + strings.Repeat("abcdefgh", size/8) + `"`)
					gSend(t, pub, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "big", Data: data})
					if v := gExpect(t, sub, fb.TopicEvent, fb.ActionEmit); !bytes.Equal(v.DataBytes(), data) {
						t.Fatalf("size %d: payload differs", size)
					}
				}

				// Ping with application data comes back as a pong with the same data.
				pong := make(chan string, 1)
				sub.SetPongHandler(func(s string) error { pong <- s; return nil })
				if err := sub.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				gSend(t, sub, &msg.Msg{Topic: fb.TopicConnection, Action: fb.ActionPing, ID: 3})
				gExpect(t, sub, fb.TopicConnection, fb.ActionPong) // reading drives the pong handler
				select {
				case s := <-pong:
					if s != "hello" {
						t.Fatalf("pong %q", s)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no pong")
				}

				// A normal close is answered with the same code.
				if err := sub.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				_, _, err := sub.ReadMessage()
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
					t.Fatalf("want close 1000, got %v", err)
				}
			})
		}
	})
}

func TestWebSocketCloseCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv := enginetest.Start(t, on(backend, func(o *engine.Options) { o.Net.MaxFrame = 4096 }))
		readClose := func(t *testing.T, c *websocket.Conn) int {
			t.Helper()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, _, err := c.ReadMessage()
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return ce.Code
				}
				if err != nil {
					t.Fatalf("want a close frame, got %v", err)
				}
			}
		}
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("oversize deflate=%v", compress), func(t *testing.T) {
				c := gorillaDial(t, srv, compress, 0)
				gOpen(t, c)
				// Random bytes do not compress, so the limit trips either way.
				big := make([]byte, 8192)
				for i := range big {
					big[i] = byte(i*7919 + i>>3)
				}
				_ = c.WriteMessage(websocket.BinaryMessage, big)
				if code := readClose(t, c); code != websocket.CloseMessageTooBig {
					t.Fatalf("close code %d, want 1009", code)
				}
			})
		}
		t.Run("text message", func(t *testing.T) {
			c := gorillaDial(t, srv, false, 0)
			gOpen(t, c)
			_ = c.WriteMessage(websocket.TextMessage, []byte("hi"))
			if code := readClose(t, c); code != websocket.CloseUnsupportedData {
				t.Fatalf("close code %d, want 1003", code)
			}
		})
		t.Run("malformed message", func(t *testing.T) {
			c := gorillaDial(t, srv, false, 0)
			gOpen(t, c)
			_ = c.WriteMessage(websocket.BinaryMessage, []byte("garbage!"))
			if code := readClose(t, c); code != websocket.CloseProtocolError {
				t.Fatalf("close code %d, want 1002", code)
			}
		})
		t.Run("handshake required", func(t *testing.T) {
			c := gorillaDial(t, srv, false, 0)
			gSend(t, c, &msg.Msg{Topic: fb.TopicEvent, Action: fb.ActionEmit, Name: "x"})
			if code := readClose(t, c); code != 4000+int(protocol.CodeHandshakeRequired) {
				t.Fatalf("close code %d", code)
			}
		})
	})
}
