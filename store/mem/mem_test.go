package mem_test

import (
	"testing"

	"github.com/eddy-realtime/eddy/store"
	"github.com/eddy-realtime/eddy/store/mem"
	"github.com/eddy-realtime/eddy/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return mem.New(store.Options{}) })
}
