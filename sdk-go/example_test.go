package eddy_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// serverAddr is the server the examples talk to; the tests point it at a
// fake server.
var serverAddr = "tcp://127.0.0.1:6021"

func TestMain(m *testing.M) {
	addr, stop, err := eddy.StartExampleServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverAddr = addr
	code := m.Run()
	stop()
	os.Exit(code)
}

func ExampleDial() {
	ctx := context.Background()
	c, err := eddy.Dial(ctx, serverAddr, eddy.WithAuth(map[string]any{"username": "ann", "password": "secret"}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("logged in as", c.User())

	got := make(chan string, 1)
	sub, err := c.Event.Subscribe("news/sport", func(data []byte) {
		got <- string(data) // data is only valid during the callback: copy it
	})
	if err != nil {
		log.Fatal(err)
	}
	// The server does not echo events to their publisher; the client hands
	// its own events to its own subscribers.
	if err := c.Event.Emit("news/sport", []byte(`{"score":[2,1]}`)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("received", <-got)

	if err := sub.Unsubscribe(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// logged in as ann
	// received {"score":[2,1]}
}

func ExampleWithConnectionStateHandler() {
	c, err := eddy.Dial(context.Background(), serverAddr,
		eddy.WithReconnect(100*time.Millisecond, 5*time.Second),
		eddy.WithConnectionStateHandler(func(s eddy.ConnectionState) {
			fmt.Println(s) // runs on the client's callback goroutine, in order
		}))
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	<-c.Done() // the final state has been delivered
	// Output:
	// Connecting
	// Open
	// Closed
}

func ExampleEvents_SubscribeMany() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := eddy.Dial(ctx, serverAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	done := make(chan struct{})
	// One Subscribe message, one acknowledgement, one handle.
	sub, err := c.Event.SubscribeMany(ctx, []string{"scores/a", "scores/b"}, func(name string, data []byte) {
		fmt.Println(name, string(data))
		if name == "scores/b" {
			close(done)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = c.Event.EmitJSON("scores/a", 1)
	_ = c.Event.EmitJSON("scores/b", 2)
	<-done
	// Output:
	// scores/a 1
	// scores/b 2
}

func ExampleError() {
	ctx := context.Background()
	_, err := eddy.Dial(ctx, "tcp://127.0.0.1:1", eddy.WithDialTimeout(time.Second))
	var e *eddy.Error
	switch {
	case errors.Is(err, eddy.ErrAuthFailed):
		fmt.Println("wrong credentials")
	case errors.As(err, &e):
		fmt.Println("refused:", e.Code)
	case err != nil:
		fmt.Println("could not connect")
	}
	// Output: could not connect
}
