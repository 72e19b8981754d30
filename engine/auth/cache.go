package auth

import (
	"sync"
	"time"
)

// cacheKey is a SHA-256 of a login's inputs; the cache never holds the
// credentials themselves.
type cacheKey [32]byte

// resultCache keeps successful results for a fixed time, up to a fixed
// number of entries. Every entry lives equally long, so insertion order is
// expiry order: a ring of keys in insertion order tells which entry to evict
// when the cache is full. Safe for concurrent use.
type resultCache struct {
	ttl time.Duration
	now func() time.Time

	mu struct {
		sync.Mutex
		entries map[cacheKey]cacheEntry
		ring    []ringSlot // insertion order, oldest at head
		head    int
		n       int // slots in use
		seq     uint64
	}
}

type cacheEntry struct {
	res     Result
	expires time.Time
	seq     uint64 // matches the ring slot that inserted it
}

type ringSlot struct {
	key cacheKey
	seq uint64
}

func newResultCache(size int, ttl time.Duration, now func() time.Time) *resultCache {
	c := &resultCache{ttl: ttl, now: now}
	c.mu.entries = make(map[cacheKey]cacheEntry, size)
	c.mu.ring = make([]ringSlot, size)
	return c
}

// get returns the live result cached under k.
func (c *resultCache) get(k cacheKey) (Result, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.entries[k]
	if !ok || !now.Before(e.expires) {
		return Result{}, false
	}
	return e.res, true
}

// put caches res under k, evicting the oldest entry when full.
func (c *resultCache) put(k cacheKey, res Result) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Drop expired entries at the head first; then, if still full, the oldest.
	for c.mu.n > 0 {
		slot := c.mu.ring[c.mu.head]
		e, ok := c.mu.entries[slot.key]
		live := ok && e.seq == slot.seq
		if live && now.Before(e.expires) && c.mu.n < len(c.mu.ring) {
			break
		}
		if live {
			delete(c.mu.entries, slot.key)
		}
		c.mu.head = (c.mu.head + 1) % len(c.mu.ring)
		c.mu.n--
	}
	c.mu.seq++
	tail := (c.mu.head + c.mu.n) % len(c.mu.ring)
	c.mu.ring[tail] = ringSlot{key: k, seq: c.mu.seq}
	c.mu.n++
	c.mu.entries[k] = cacheEntry{res: res, expires: now.Add(c.ttl), seq: c.mu.seq}
}

// len returns the number of entries held, live or expired.
func (c *resultCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.entries)
}
