package eddy

import (
	"sync"
	"sync/atomic"
)

// dispatcher runs every user callback of one client on one goroutine, in
// the order the work was queued: event deliveries (their name and data
// copied into an arena that is reused batch after batch, so steady traffic
// allocates nothing) and calls (state changes, error reports).
//
// Producers (the reader goroutine, Emit's caller, the supervisor) never
// block on it: past the pending limit, deliveries are dropped and onDrop
// runs once per episode. Calls are never dropped.
type dispatcher struct {
	mu struct {
		sync.Mutex
		items    []dispatchItem
		arena    []byte
		dropping bool // over the limit since the queue last emptied
		stopped  bool
	}
	limit  int
	wake   chan struct{}
	skip   atomic.Bool // stop(dropEvents): skip queued deliveries
	onDrop func()
	onExit func()

	// Owned by run: the buffers to swap in next.
	spareItems []dispatchItem
	spareArena []byte
}

type dispatchItem struct {
	deliver func(name, data []byte)
	call    func()
	// name is arena[off:mid], data arena[mid:end].
	off, mid, end int
}

func newDispatcher(limit int, onDrop, onExit func()) *dispatcher {
	return &dispatcher{limit: limit, wake: make(chan struct{}, 1), onDrop: onDrop, onExit: onExit}
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// deliver queues fn(name, data) with copies of name and data. It returns
// false when the delivery was dropped (over the limit, or stopped).
func (d *dispatcher) deliver(fn func(name, data []byte), name, data []byte) bool {
	d.mu.Lock()
	if d.mu.stopped {
		d.mu.Unlock()
		return false
	}
	if len(d.mu.items) > 0 && len(d.mu.arena)+len(name)+len(data) > d.limit {
		report := !d.mu.dropping
		d.mu.dropping = true
		d.mu.Unlock()
		if report {
			d.onDrop()
		}
		return false
	}
	off := len(d.mu.arena)
	d.mu.arena = append(d.mu.arena, name...)
	mid := len(d.mu.arena)
	d.mu.arena = append(d.mu.arena, data...)
	d.mu.items = append(d.mu.items, dispatchItem{deliver: fn, off: off, mid: mid, end: len(d.mu.arena)})
	d.mu.Unlock()
	d.signal()
	return true
}

// call queues fn; it is dropped only after stop.
func (d *dispatcher) call(fn func()) {
	d.mu.Lock()
	if d.mu.stopped {
		d.mu.Unlock()
		return
	}
	d.mu.items = append(d.mu.items, dispatchItem{call: fn})
	d.mu.Unlock()
	d.signal()
}

// stop lets run finish what is queued (skipping deliveries when dropEvents)
// and exit; nothing queued after stop runs. It does not wait.
func (d *dispatcher) stop(dropEvents bool) {
	if dropEvents {
		d.skip.Store(true)
	}
	d.mu.Lock()
	d.mu.stopped = true
	d.mu.Unlock()
	d.signal()
}

func (d *dispatcher) run() {
	defer d.onExit()
	for {
		d.mu.Lock()
		for len(d.mu.items) == 0 && !d.mu.stopped {
			d.mu.dropping = false
			d.mu.Unlock()
			<-d.wake
			d.mu.Lock()
		}
		if len(d.mu.items) == 0 {
			d.mu.Unlock()
			return
		}
		items, arena := d.mu.items, d.mu.arena
		d.mu.items, d.mu.arena = d.spareItems[:0], d.spareArena[:0]
		d.mu.Unlock()
		for i := range items {
			it := &items[i]
			if it.call != nil {
				it.call()
			} else if !d.skip.Load() {
				it.deliver(arena[it.off:it.mid:it.mid], arena[it.mid:it.end:it.end])
			}
			*it = dispatchItem{} // drop references to callbacks
		}
		d.spareItems = items[:0]
		if cap(arena) <= 4<<20 { // keep the arena unless a burst blew it up
			d.spareArena = arena[:0]
		} else {
			d.spareArena = nil
		}
	}
}
