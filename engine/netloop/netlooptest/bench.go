package netlooptest

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/codec/frame"
	"github.com/eddy-realtime/eddy/engine/netloop"
)

// BenchmarkEcho measures one connection's echo throughput: batches of 64
// frames of 128 bytes written at once, each batch read back in full before
// the next. One op is one frame there and back; allocations are the
// server's and the client's together.
func BenchmarkEcho(b *testing.B, start StartFunc) {
	h := &handler{}
	srv := &netloop.Server{Handler: h, Listeners: []netloop.Listener{{Kind: netloop.TCP, Addr: "127.0.0.1:0"}}}
	eng, err := start(srv)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	}()
	c, err := net.Dial("tcp", eng.Addrs()[0].String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const batch = 64
	payload := bytes.Repeat([]byte("e"), 128)
	var out []byte
	for i := 0; i < batch; i++ {
		out = frame.Append(out, payload)
	}
	in := make([]byte, 64<<10)
	b.SetBytes(int64(len(out) / batch))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := c.Read(in)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
