package clustertest

import (
	"os"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestStartOutsideATest(t *testing.T) {
	c, err := Start(2)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := 0; i < c.Len(); i++ {
		dirs = append(dirs, c.opts[i].StoreDir)
		if c.Server(i).NumRoutes() < 1 {
			t.Fatalf("server %d: %d routes", i, c.Server(i).NumRoutes())
		}
	}
	nc, err := nats.Connect(c.URL(1))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	c.Stop()
	for i, d := range dirs {
		if c.Server(i) != nil {
			t.Fatalf("server %d still running", i)
		}
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("store %s left behind: %v", d, err)
		}
	}
	c.Stop() // twice is harmless
}
