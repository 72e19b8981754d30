package storetest

import (
	"math/rand/v2"
	"strconv"
)

var (
	firstNames = []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Tim", "Sophie"}
	lastNames  = []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Wilson"}
	cities     = []string{"Berlin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Quito", "Tallinn", "Austin", "Perth", "Lyon"}
	tagWords   = []string{"admin", "beta", "mobile", "desktop", "premium", "trial", "eu", "us", "apac", "vip", "muted", "verified"}
	words      = []string{"the", "record", "moved", "to", "a", "new", "room", "and", "then", "back", "player", "scored", "points", "while", "chat", "was", "quiet", "again", "map", "level"}
)

// SampleJSON returns a deterministic JSON object of about size bytes (at
// least one small object) shaped like a realtime record: a user profile with
// a position, tags and a growing list of chat-like items. Benchmarks use it
// to measure compression on realistic documents.
func SampleJSON(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	b := make([]byte, 0, size+256)
	b = append(b, `{"id":"`...)
	b = strconv.AppendUint(b, r.Uint64()>>20, 36)
	b = append(b, `","name":"`...)
	b = append(b, pick(firstNames)...)
	b = append(b, ' ')
	b = append(b, pick(lastNames)...)
	b = append(b, `","city":"`...)
	b = append(b, pick(cities)...)
	b = append(b, `","online":`...)
	b = strconv.AppendBool(b, r.IntN(2) == 0)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(r.IntN(100000)), 10)
	b = append(b, `,"position":{"x":`...)
	b = strconv.AppendFloat(b, r.Float64()*1000, 'f', 3, 64)
	b = append(b, `,"y":`...)
	b = strconv.AppendFloat(b, r.Float64()*1000, 'f', 3, 64)
	b = append(b, `},"tags":["`...)
	b = append(b, pick(tagWords)...)
	b = append(b, `","`...)
	b = append(b, pick(tagWords)...)
	b = append(b, `"],"items":[`...)
	for i := 0; len(b) < size-2; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"ts":`...)
		b = strconv.AppendInt(b, 1767225600000+int64(r.IntN(1<<30)), 10)
		b = append(b, `,"from":"`...)
		b = append(b, pick(firstNames)...)
		b = append(b, `","text":"`...)
		for j, n := 0, 3+r.IntN(8); j < n; j++ {
			if j > 0 {
				b = append(b, ' ')
			}
			b = append(b, pick(words)...)
		}
		b = append(b, `","likes":`...)
		b = strconv.AppendInt(b, int64(r.IntN(50)), 10)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return b
}
