package auth

import (
	"testing"
	"time"
)

func key(b byte) cacheKey { return cacheKey{b} }

func TestResultCache(t *testing.T) {
	clock := time.Unix(1000, 0)
	c := newResultCache(3, 10*time.Second, func() time.Time { return clock })
	has := func(k byte) bool { _, ok := c.get(key(k)); return ok }

	for k := byte(1); k <= 3; k++ {
		c.put(key(k), Result{ID: string('a' + k - 1)})
		clock = clock.Add(time.Second)
	}
	if res, ok := c.get(key(2)); !ok || res.ID != "b" {
		t.Fatalf("get 2: %+v %v", res, ok)
	}
	// Full: the oldest goes.
	c.put(key(4), Result{ID: "d"})
	if has(1) || !has(2) || !has(3) || !has(4) || c.len() != 3 {
		t.Fatalf("after evicting the oldest: 1:%v 2:%v 3:%v 4:%v len %d", has(1), has(2), has(3), has(4), c.len())
	}
	// Entries expire after the TTL (2 was put at 1001).
	clock = time.Unix(1011, 0)
	if has(2) || !has(3) {
		t.Fatalf("expiry: 2:%v 3:%v", has(2), has(3))
	}
	// An expired key put again is a fresh entry.
	c.put(key(2), Result{ID: "b2"})
	if res, ok := c.get(key(2)); !ok || res.ID != "b2" {
		t.Fatalf("re-put entry: %+v %v", res, ok)
	}
	// Two concurrent misses may put one key twice: the first ring slot goes
	// stale and, when it reaches the head, must not evict the live entry.
	clock = time.Unix(2000, 0)
	c.put(key(7), Result{ID: "g1"}) // drops 3, 4 and 2, all expired
	c.put(key(7), Result{ID: "g2"}) // the slot of g1 goes stale
	c.put(key(8), Result{ID: "h"})  // the stale head slot is dropped; 7 must stay
	c.put(key(9), Result{ID: "i"})
	if res, ok := c.get(key(7)); !ok || res.ID != "g2" {
		t.Fatalf("live entry evicted through a stale slot: %+v %v", res, ok)
	}
	if !has(8) || !has(9) || has(2) || c.len() != 3 {
		t.Fatalf("8:%v 9:%v 2:%v len %d", has(8), has(9), has(2), c.len())
	}
	// Many distinct keys never grow it past its bound.
	for i := range 200 {
		c.put(cacheKey{byte(i), 1}, Result{})
		if c.len() > 3 {
			t.Fatalf("len %d after %d puts", c.len(), i)
		}
	}
}
