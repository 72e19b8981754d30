package jsonpath

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// benchDoc returns a record of about 1 KiB shaped like a game or dashboard
// state: nested objects, an array of objects, strings and numbers.
func benchDoc() []byte {
	b := []byte(`{"id":"match-4711","status":"running","round":7,"position":{"x":10.5,"y":-3.25,"z":0},` +
		`"settings":{"mode":"ranked","map":"harbour","limits":{"time":900,"score":50},"flags":["fog","night"]},"players":[`)
	for i := 0; i < 10; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"p`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","name":"Player number `...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","score":`...)
		b = strconv.AppendInt(b, int64(i*113), 10)
		b = append(b, `,"alive":true,"team":"blue"}`...)
	}
	return append(b, `],"chat":{"last":"gg \"well played\" \u263a","count":42}}`...)
}

// reorderedBenchDoc holds the same value as benchDoc with the top-level and
// nested keys in another order and one number spelled differently.
func reorderedBenchDoc() []byte {
	b := []byte(`{"chat":{"count":42.0,"last":"gg \"well played\" \u263a"},"players":[`)
	for i := 0; i < 10; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"team":"blue","alive":true,"score":`...)
		b = strconv.AppendInt(b, int64(i*113), 10)
		b = append(b, `,"name":"Player number `...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","id":"p`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `"}`...)
	}
	return append(b, `],"settings":{"flags":["fog","night"],"limits":{"score":50,"time":900},"map":"harbour","mode":"ranked"},`+
		`"position":{"z":0,"y":-3.25,"x":10.5},"round":7,"status":"running","id":"match-4711"}`...)
}

func BenchmarkSet(b *testing.B) {
	doc := benchDoc()
	dst := make([]byte, 0, 2*len(doc))
	cases := []struct{ name, path, value string }{
		{"scalar", "position.x", `12.5`},
		{"new-key", "position.w", `1`},
		{"deep", "players[7].score", `999`},
		{"object", "settings.limits", `{"time":600,"score":30}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			value := []byte(c.value)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = Set(dst[:0], doc, c.path, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("parsed-path", func(b *testing.B) {
		p := MustParse("position.x")
		value := []byte(`12.5`)
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			dst, _ = p.Set(dst[:0], doc, value)
		}
	})
}

func BenchmarkGet(b *testing.B) {
	doc := benchDoc()
	for _, path := range []string{"position.x", "players[7].name", "missing"} {
		b.Run(path, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Get(doc, path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkErase(b *testing.B) {
	doc := benchDoc()
	dst := make([]byte, 0, 2*len(doc))
	for _, path := range []string{"position.x", "players[2]"} {
		b.Run(path, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = Erase(dst[:0], doc, path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEqual(b *testing.B) {
	doc := benchDoc()
	same := append([]byte(nil), doc...)
	reordered := reorderedBenchDoc()
	if !Equal(doc, reordered) {
		b.Fatal("benchmark documents differ")
	}
	spaced := append([]byte(" "), doc...)
	changed, err := Set(nil, doc, "players[7].score", []byte(`1000`))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		a, b []byte
		want bool
	}{
		{"scalar", []byte(`10.5`), []byte(`10.50`), true},
		{"identical-1KiB", doc, same, true},
		{"same-order-1KiB", doc, spaced, true},
		{"last-value-differs-1KiB", doc, changed, false},
		{"reordered-1KiB", doc, reordered, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.a)))
			b.ReportAllocs()
			for b.Loop() {
				if Equal(c.a, c.b) != c.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

func BenchmarkValid(b *testing.B) {
	// text: a record of short keys and values (benchDoc); strings: one
	// whose values are 128-byte strings, like the bench's payloads.
	var long strings.Builder
	long.WriteString(`{`)
	for i := range 8 {
		if i > 0 {
			long.WriteString(`,`)
		}
		fmt.Fprintf(&long, `"field%d":"%s"`, i, strings.Repeat("abcdefgh", 16))
	}
	long.WriteString(`}`)
	for _, tc := range []struct {
		name string
		doc  []byte
	}{{"short-strings", benchDoc()}, {"long-strings", []byte(long.String())}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.doc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Valid(tc.doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
