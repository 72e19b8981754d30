// Package shard picks lock shards by name. Tables keep a fixed
// power-of-two array of shards, each a map plus its own mutex, and never
// hold two shard locks at once.
//
// Index is pure and safe from any goroutine; it allocates nothing.
package shard

// Count is the number of shards every table uses. 256 keeps contention low
// with many loops while a shard array of mutexes stays a few KiB.
const Count = 256

// Index returns the shard of name (FNV-1a, folded to Count).
func Index[T string | []byte](name T) int {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return int((h ^ h>>16) & (Count - 1))
}
