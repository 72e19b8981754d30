package eddy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"regexp"

	eddy "github.com/eddy-realtime/eddy/sdk-go"
)

// Records: read, write by path, follow changes.
func ExampleRecords_Get() {
	ctx := context.Background()
	c, err := eddy.Dial(ctx, "tcp://127.0.0.1:6021")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r, err := c.Record.Get(ctx, "driver/14") // created as {} if missing
	if err != nil {
		log.Fatal(err)
	}
	defer r.Discard()

	// Called on the client's callback goroutine each time position.x
	// changes, by this client or another.
	stop := r.SubscribeNow("position.x", func(v json.RawMessage) { fmt.Println("x is", string(v)) })
	defer stop()

	if err := r.Set(ctx, map[string]any{"name": "John", "position": map[string]any{"x": 4234, "y": 2454}}); err != nil {
		log.Fatal(err)
	}
	if err := r.SetPath(ctx, "position.x", 4244); err != nil {
		log.Fatal(err)
	}
	// Wait until the write is on disk at the server.
	if err := r.SetWithAck(ctx, "speed", 22); errors.Is(err, eddy.ErrVersionConflict) {
		fmt.Println("a concurrent write was kept instead")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Version(), string(r.Get("position")))
}

// Conflicts: choose how a write that lost a version race is resolved.
func ExampleMergeWith() {
	ctx := context.Background()
	// Keep the largest value of every key.
	keepMax := eddy.MergeWith(func(local, remote json.RawMessage, _, _ int64) (json.RawMessage, error) {
		var l, r map[string]float64
		if err := json.Unmarshal(local, &l); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(remote, &r); err != nil {
			return nil, err
		}
		for k, v := range l {
			r[k] = max(r[k], v)
		}
		return json.Marshal(r)
	})
	c, err := eddy.Dial(ctx, "tcp://127.0.0.1:6021", eddy.WithMergeStrategy(eddy.LocalWins))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Record.SetMergeStrategyPattern(regexp.MustCompile(`^scores/`), keepMax)
	c.Record.SetMergeStrategy("settings/global", eddy.RemoteWins)
}

// Lists hold record names.
func ExampleRecords_GetList() {
	ctx := context.Background()
	c, err := eddy.Dial(ctx, "tcp://127.0.0.1:6021")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	l, err := c.Record.GetList(ctx, "drivers")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Discard()
	l.OnEntryAdded(func(name string, i int) { fmt.Println("added", name, "at", i) })
	if err := l.AddEntry(ctx, "driver/14"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Entries())
}
