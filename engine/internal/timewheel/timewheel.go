// Package timewheel is a hashed timing wheel: deadlines are kept in a ring
// of slots, one per tick, so scheduling, stopping and expiring a timer are
// O(1) and cost no allocation and no goroutine.
//
// A Wheel is a plain data structure: it is not safe for concurrent use and
// starts no goroutine. Its owner guards it (the rpc table keeps one wheel
// per lock shard, under the shard's mutex) and calls Advance from whatever
// goroutine drives time (the rpc table's single deadline goroutine).
//
// Timers are intrusive: the owner embeds a Timer in its own struct and gets
// that struct back through Timer.Value when the timer fires, so a wheel
// never allocates per timer.
//
// Invariants:
//  1. A timer fires at most once per Schedule, never before its deadline,
//     and at most one tick after the first Advance that passes it.
//  2. A timer is in at most one slot; Stop and Schedule unlink it first, so
//     rescheduling a scheduled timer moves it.
//  3. Len counts exactly the scheduled timers, including those whose
//     deadline lies more than one revolution ahead (they stay in their slot
//     and are skipped until due).
package timewheel

import "time"

// Timer is one deadline. Embed it in the struct it times; the zero Timer is
// unscheduled. Value is left alone by the wheel.
type Timer[T any] struct {
	Value T

	next, prev *Timer[T]
	at         int64 // absolute tick at which it is due
	wheel      *Wheel[T]
}

// Scheduled reports whether t is waiting in a wheel.
func (t *Timer[T]) Scheduled() bool { return t.wheel != nil }

// Wheel holds timers in slots of one tick each.
type Wheel[T any] struct {
	slots   []Timer[T] // list heads (sentinels) of circular lists
	mask    int64
	tick    time.Duration
	start   time.Time
	now     int64    // the last tick Advance processed
	pending Timer[T] // head of the list being expired by Advance
	n       int
}

// Init prepares w with the given tick and number of slots (rounded up to a
// power of two, at least 2) and sets its epoch to start. It must be called
// before any other method and only once.
func (w *Wheel[T]) Init(tick time.Duration, slots int, start time.Time) {
	if tick <= 0 {
		tick = time.Millisecond
	}
	size := 2
	for size < slots {
		size <<= 1
	}
	w.slots = make([]Timer[T], size)
	for i := range w.slots {
		h := &w.slots[i]
		h.next, h.prev = h, h
	}
	w.pending.next, w.pending.prev = &w.pending, &w.pending
	w.mask = int64(size - 1)
	w.tick = tick
	w.start = start
}

// Len returns the number of scheduled timers.
func (w *Wheel[T]) Len() int { return w.n }

// Schedule makes t fire at the first Advance at or after deadline. A timer
// already scheduled (in this wheel or another) is moved.
func (w *Wheel[T]) Schedule(t *Timer[T], deadline time.Time) {
	if t.wheel != nil {
		t.wheel.Stop(t)
	}
	at := w.ceilTick(deadline)
	if at <= w.now {
		at = w.now + 1 // overdue: the next Advance fires it
	}
	t.at = at
	t.wheel = w
	w.link(&w.slots[at&w.mask], t)
	w.n++
}

// Stop unschedules t and reports whether it was scheduled in w.
func (w *Wheel[T]) Stop(t *Timer[T]) bool {
	if t.wheel != w {
		return false
	}
	t.prev.next = t.next
	t.next.prev = t.prev
	t.next, t.prev, t.wheel = nil, nil, nil
	w.n--
	return true
}

// Advance moves the wheel to now and calls fire for every timer whose
// deadline has passed, after unscheduling it. fire may Schedule or Stop any
// timer, including the one it was given; timers it schedules with a passed
// deadline fire on the next Advance.
func (w *Wheel[T]) Advance(now time.Time, fire func(*Timer[T])) {
	target := w.floorTick(now)
	if target <= w.now {
		return
	}
	from := w.now + 1
	if target-from >= int64(len(w.slots)) {
		from = target - int64(len(w.slots)) + 1 // every slot once
	}
	w.now = target
	if w.n == 0 {
		return
	}
	for tick := from; tick <= target; tick++ {
		head := &w.slots[tick&w.mask]
		if head.next == head {
			continue
		}
		// Move the slot's list aside so fire can reschedule into the slot.
		p := &w.pending
		p.next, p.prev = head.next, head.prev
		p.next.prev, p.prev.next = p, p
		head.next, head.prev = head, head
		for p.next != p {
			t := p.next
			t.prev.next = t.next
			t.next.prev = t.prev
			if t.at > target {
				w.link(head, t) // due in a later revolution
				continue
			}
			t.next, t.prev, t.wheel = nil, nil, nil
			w.n--
			fire(t)
		}
	}
}

func (w *Wheel[T]) link(head, t *Timer[T]) {
	t.prev = head.prev
	t.next = head
	head.prev.next = t
	head.prev = t
}

func (w *Wheel[T]) floorTick(t time.Time) int64 { return int64(t.Sub(w.start) / w.tick) }

func (w *Wheel[T]) ceilTick(t time.Time) int64 {
	d := t.Sub(w.start)
	n := int64(d / w.tick)
	if d%w.tick > 0 {
		n++
	}
	return n
}
