package jsonpath

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestParse(t *testing.T) {
	f := func(s string, segs int) {
		t.Helper()
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if p.String() != s || p.Len() != segs || p.IsRoot() != (segs == 0) {
			t.Fatalf("Parse(%q) = %q len %d root %v; want len %d", s, p.String(), p.Len(), p.IsRoot(), segs)
		}
		if q, err := Parse(p.String()); err != nil || q != p {
			t.Fatalf("Parse(String()) of %q = %v, %v", s, q, err)
		}
	}
	f("", 0)
	f("a", 1)
	f("a.b.c", 3)
	f("a[0][1][2]", 4)
	f("[0][1]", 2)
	f("[0].a", 2)
	f(" spaced key . x ", 2)
	f("a[999999]", 2)
	f("a[1000000]", 2)
	f(strings.Repeat("[0]", MaxDepth), MaxDepth)
	f("x"+strings.Repeat(".x", MaxDepth-1), MaxDepth)
	f("\x00\x1f\x7f", 1)
	f("日本.語", 2)
}

func TestParseErrors(t *testing.T) {
	f := func(s string, offset int, reason string) {
		t.Helper()
		_, err := Parse(s)
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("Parse(%q) = %v; want ErrSyntax", s, err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Offset != offset || !strings.Contains(e.Reason, reason) {
			t.Fatalf("Parse(%q) = %v; want offset %d reason %q", s, err, offset, reason)
		}
		if !strings.HasPrefix(err.Error(), "jsonpath: ") {
			t.Fatalf("error %q lacks the package prefix", err)
		}
	}
	f(".", 0, "empty key")
	f("a.", 2, "empty key")
	f("a..b", 2, "empty key")
	f("a[01]", 2, "leading zero")
	f("a[1000001]", 2, "exceeds")
	f("a[-0]", 2, "decimal")
	f("a[ 1]", 2, "decimal")
	f("a[1 ]", 3, "decimal")
	f("a[1", 3, "missing ']'")
	f("a[1]x", 4, "after ']'")
	f("a]", 1, "unexpected ']'")
	f("ok.\xc3", 3, "UTF-8")
	f("\xed\xa0\x80", 0, "UTF-8") // an encoded surrogate is not valid UTF-8
	f(strings.Repeat("[0]", MaxDepth+1), 3*MaxDepth, "segments")
	f("x"+strings.Repeat(".x", MaxDepth), 2*MaxDepth, "segments")
}

func TestPathMethods(t *testing.T) {
	parent := func(s, want string) {
		t.Helper()
		p := MustParse(s).Parent()
		if p.String() != want || p != MustParse(want) {
			t.Fatalf("Parent(%q) = %q (len %d); want %q", s, p, p.Len(), want)
		}
	}
	parent("", "")
	parent("a", "")
	parent("[0]", "")
	parent("a.b", "a")
	parent("a[1]", "a")
	parent("a.b[1][2]", "a.b[1]")
	parent("[0].x", "[0]")

	prefix := func(s, pre string, want bool) {
		t.Helper()
		if got := MustParse(s).HasPrefix(MustParse(pre)); got != want {
			t.Fatalf("%q.HasPrefix(%q) = %v", s, pre, got)
		}
	}
	prefix("a.b", "", true)
	prefix("", "", true)
	prefix("a.b", "a", true)
	prefix("a.b", "a.b", true)
	prefix("a[1]", "a", true)
	prefix("ab", "a", false)
	prefix("a", "a.b", false)
	prefix("a[10]", "a[1]", false)
	prefix("", "a", false)

	defer func() {
		if recover() == nil {
			t.Fatal("MustParse of a bad path did not panic")
		}
	}()
	MustParse("a..b")
}

// TestPathMethodsMatchFunctions checks that the Path methods and the
// package functions taking strings agree.
func TestPathMethodsMatchFunctions(t *testing.T) {
	doc := []byte(`{"a":{"b":[1,{"c":2}]},"d":"x"}`)
	for _, s := range []string{"", "a", "a.b", "a.b[1].c", "a.b[5]", "d.e", "z"} {
		p := MustParse(s)
		v1, ok1, err1 := Get(doc, s)
		v2, ok2, err2 := p.Get(doc)
		if string(v1) != string(v2) || ok1 != ok2 || err1 != err2 {
			t.Fatalf("Get %q differs: %s %v %v / %s %v %v", s, v1, ok1, err1, v2, ok2, err2)
		}
		s1, err1 := Set(nil, doc, s, []byte(`[true]`))
		s2, err2 := p.Set(nil, doc, []byte(`[true]`))
		if string(s1) != string(s2) || err1 != err2 {
			t.Fatalf("Set %q differs: %s %v / %s %v", s, s1, err1, s2, err2)
		}
		e1, err1 := Erase(nil, doc, s)
		e2, err2 := p.Erase(nil, doc)
		if string(e1) != string(e2) || err1 != err2 {
			t.Fatalf("Erase %q differs: %s %v / %s %v", s, e1, err1, e2, err2)
		}
	}
}

func TestValid(t *testing.T) {
	ok := func(s string) {
		t.Helper()
		if err := Valid([]byte(s)); err != nil {
			t.Fatalf("Valid(%q) = %v", s, err)
		}
	}
	bad := func(s string, offset int) {
		t.Helper()
		err := Valid([]byte(s))
		var e *Error
		if !errors.Is(err, ErrJSON) || !errors.As(err, &e) || e.Offset != offset {
			t.Fatalf("Valid(%q) = %v; want ErrJSON at %d", s, err, offset)
		}
	}
	ok(`"é日🙂"`)
	ok("\t\r\n 1 \n")
	ok(`1E+2`)
	ok(`-0.0e-0`)
	ok(`"\u00e9\uD83D\uDE42"`)
	ok(strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth))
	ok(strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth))
	bad(strings.Repeat("[", MaxDepth+1)+strings.Repeat("]", MaxDepth+1), MaxDepth)
	bad(strings.Repeat(`{"a":`, MaxDepth+1)+"1"+strings.Repeat("}", MaxDepth+1), 5*MaxDepth)
	bad("\"a\x00\"", 2)
	bad("\"a\x1f\"", 2)
	bad("\"\xff\"", 1)
	bad("\"\xc3\"", 1)
	bad("\"\xed\xa0\x80\"", 1) // encoded surrogate
	bad("{\"\xff\":1}", 2)
	bad("\v1", 0)
	bad("1\f", 1)
	bad("\xef\xbb\xbf{}", 0) // no byte order mark
	bad(`[1,2`, 4)
	bad(`{"a":1`, 6)
	bad(`{"a"`, 4)
	bad(`{`, 1)
	bad(`"\`, 2)
	bad(`-a`, 0)
	bad(`1.e3`, 0)
	bad(`1e+`, 0)
}

// TestValidDeepInput checks that input far deeper than MaxDepth is
// rejected promptly and without exhausting the stack.
func TestValidDeepInput(t *testing.T) {
	deep := []byte(strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20))
	if err := Valid(deep); !errors.Is(err, ErrJSON) {
		t.Fatalf("Valid(deep) = %v", err)
	}
	if _, _, err := Get(deep, "[0][0]"); !errors.Is(err, ErrJSON) {
		t.Fatalf("Get(deep) = %v", err)
	}
	if _, err := Set(nil, deep, strings.Repeat("[0]", MaxDepth), []byte("1")); !errors.Is(err, ErrJSON) {
		t.Fatalf("Set(deep) = %v", err)
	}
	if Equal(deep, deep[:len(deep)-1]) || Equal(deep, deep) {
		t.Fatal("Equal accepted a document deeper than MaxDepth")
	}
}

// TestValidAgainstEncodingJSON compares Valid with encoding/json, which
// accepts the same grammar but does not check UTF-8 or depth.
func TestValidAgainstEncodingJSON(t *testing.T) {
	for _, s := range validCorpus {
		mine := Valid([]byte(s)) == nil
		theirs := json.Valid([]byte(s))
		if mine && !theirs {
			t.Errorf("Valid accepts %q, encoding/json does not", s)
		}
		if theirs && !mine && !strings.ContainsAny(s, "\xff\xc3\xed") {
			t.Errorf("encoding/json accepts %q, Valid does not: %v", s, Valid([]byte(s)))
		}
	}
}

var validCorpus = []string{
	``, ` `, `0`, `-0`, `00`, `01`, `1.5`, `1.`, `.1`, `1e5`, `1E-5`, `1e+`, `-`, `--1`, `1.2.3`,
	`true`, `false`, `null`, `nul`, `True`, `"a"`, `"\"`, `"\u0000"`, `"\uzzzz"`, `"\/"`, `"\a"`,
	`[]`, `[,]`, `[1,]`, `[1 2]`, `[[1],[2,[3]]]`, `{}`, `{"a":1}`, `{"a":1,}`, `{"a"}`, `{1:2}`,
	`{"a":{"b":[{}]}}`, `{"a":1 "b":2}`, "\"\xff\"", "\"\xc3\xa9\"", "\"\xed\xa0\x80\"", ` {"a" : [ ] } `,
	`[1]]`, `{}{}`, `"tab	inside"`, "\"nl\ninside\"", `1 2`, `[true,false,null]`,
}

func TestSetDepthLimit(t *testing.T) {
	deepValue := []byte(strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1))
	// At depth 1 the value reaches exactly MaxDepth.
	out, err := Set(nil, []byte(`{}`), "a", deepValue)
	if err != nil || Valid(out) != nil {
		t.Fatalf("Set at the limit = %v, valid %v", err, Valid(out))
	}
	// One level more is refused, whether the level exists or is created.
	_, err = Set(nil, []byte(`{"a":{}}`), "a.b", deepValue)
	if !errors.Is(err, ErrValue) {
		t.Fatalf("Set past the limit = %v; want ErrValue", err)
	}
	_, err = Set(nil, []byte(`{}`), "a.b", deepValue)
	if !errors.Is(err, ErrValue) {
		t.Fatalf("Set creating past the limit = %v; want ErrValue", err)
	}
	// A long path with a scalar reaches exactly MaxDepth.
	long := strings.Repeat("[0]", MaxDepth)
	out, err = Set(nil, []byte(`[]`), long, []byte(`1`))
	if err != nil || Valid(out) != nil {
		t.Fatalf("Set with a %d-segment path = %v, valid %v", MaxDepth, err, Valid(out))
	}
	if v, ok, err := Get(out, long); !ok || err != nil || string(v) != "1" {
		t.Fatalf("Get with a %d-segment path = %s %v %v", MaxDepth, v, ok, err)
	}
	if _, err = Set(nil, []byte(`[]`), long, []byte(`[]`)); !errors.Is(err, ErrValue) {
		t.Fatalf("Set of [] at depth %d = %v; want ErrValue", MaxDepth, err)
	}
}

func TestSetMaxIndexPadding(t *testing.T) {
	out, err := Set(nil, []byte(`{"a":[]}`), "a[1000000]", []byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	if want := len(`{"a":[`) + MaxIndex*len("null,") + len(`1]}`); len(out) != want {
		t.Fatalf("padded document is %d bytes; want %d", len(out), want)
	}
	if v, ok, err := Get(out, "a[999999]"); !ok || err != nil || string(v) != "null" {
		t.Fatalf("Get(a[999999]) = %s %v %v", v, ok, err)
	}
}

func TestSetAppendsToDst(t *testing.T) {
	dst := []byte("prefix:")
	out, err := Set(dst, []byte(`{"a":1}`), "b", []byte(`2`))
	if err != nil || string(out) != `prefix:{"a":1,"b":2}` {
		t.Fatalf("Set = %q, %v", out, err)
	}
	out, err = Set(dst, []byte(`{"a":1}`), "b", []byte(`nope`))
	if err == nil || string(out) != "prefix:" {
		t.Fatalf("failed Set = %q, %v; want dst unchanged", out, err)
	}
	out, err = Erase(dst, []byte(`{"a":1}`), "a")
	if err != nil || string(out) != `prefix:{}` {
		t.Fatalf("Erase = %q, %v", out, err)
	}
}

func TestOverlap(t *testing.T) {
	buf := make([]byte, 0, 64)
	doc := append(buf, `{"a":1}`...)
	if _, err := Set(doc[:0], doc, "a", []byte(`2`)); err != ErrOverlap {
		t.Fatalf("Set into its own doc = %v; want ErrOverlap", err)
	}
	if _, err := Erase(doc[:0], doc, "a"); err != ErrOverlap {
		t.Fatalf("Erase into its own doc = %v; want ErrOverlap", err)
	}
	if _, err := Compact(doc[:0], doc); err != ErrOverlap {
		t.Fatalf("Compact into its own doc = %v; want ErrOverlap", err)
	}
	value := doc[5:6]
	if _, err := Set(doc[:0], []byte(`{}`), "a", value); err != ErrOverlap {
		t.Fatalf("Set over its value = %v; want ErrOverlap", err)
	}
	// Appending after doc in the same array is fine: it writes past doc.
	out, err := Set(doc, doc, "a", []byte(`2`))
	if err != nil || string(out) != `{"a":1}{"a":2}` {
		t.Fatalf("Set after doc = %q, %v", out, err)
	}
}

func TestGetAliasesDoc(t *testing.T) {
	doc := []byte(`{"a":[1,2],"b":3}`)
	v, ok, err := Get(doc, "a")
	if !ok || err != nil || string(v) != "[1,2]" {
		t.Fatalf("Get = %s %v %v", v, ok, err)
	}
	if cap(v) != len(v) {
		t.Fatalf("Get result has spare capacity %d into doc", cap(v)-len(v))
	}
	_ = append(v, 'x')
	if string(doc) != `{"a":[1,2],"b":3}` {
		t.Fatalf("appending to a Get result changed doc: %s", doc)
	}
}

func TestErrorKinds(t *testing.T) {
	_, err := Set(nil, []byte(`{`), "a", []byte(`1`))
	if !errors.Is(err, ErrJSON) || errors.Is(err, ErrValue) {
		t.Fatalf("bad doc: %v", err)
	}
	_, err = Set(nil, []byte(`{}`), "a", []byte(`{`))
	if !errors.Is(err, ErrValue) || errors.Is(err, ErrJSON) {
		t.Fatalf("bad value: %v", err)
	}
	_, err = Set(nil, []byte(`{`), "a[", []byte(`{`))
	if !errors.Is(err, ErrSyntax) {
		t.Fatalf("bad path is reported first: %v", err)
	}
	if _, err = Erase(nil, []byte(`{}`), ""); err != ErrRoot {
		t.Fatalf("Erase root: %v", err)
	}
}

func TestEqual(t *testing.T) {
	f := func(a, b string, want bool) {
		t.Helper()
		if got := Equal([]byte(a), []byte(b)); got != want {
			t.Fatalf("Equal(%s, %s) = %v; want %v", a, b, got, want)
		}
		if got := Equal([]byte(b), []byte(a)); got != want {
			t.Fatalf("Equal(%s, %s) = %v; want %v (reversed)", b, a, got, want)
		}
	}
	f(`1`, `1`, true)
	f(`1`, `1.000`, true)
	f(`1e400`, `2e400`, false) // out of a float64's range: not valid JSON here
	f(`1e-400`, `0`, true)     // underflow to zero
	f(`-1e400`, `1e400`, false)
	f(`12345678901234567890`, `12345678901234567000`, true)
	f(`0.3`, `0.30000000000000004`, false)
	f(`"a"`, `"\u0061"`, true)
	f(`"\/"`, `"/"`, true)
	f(`"\n"`, `"\u000a"`, true)
	f(`"\n"`, `"\u000A"`, true)
	f(`"ab"`, `"a"`, false)
	f(`"\ud83d\ude42"`, `"\uD83D\uDE42"`, true)
	f(`"\ud83d"`, `"\ud83d\ude42"`, false)
	f(`"\ud83d\ud83d\ude42"`, "\"\\ud83d\U0001F642\"", true)
	f(`{}`, `{}`, true)
	f(`{}`, `[]`, false)
	f(`[]`, `[null]`, false)
	f(`[1,[2,[3]]]`, `[1,[2,[3]]]`, true)
	f(`[1,[2,[3]]]`, `[1,[2,[4]]]`, false)
	f(`{"b":1,"a":{"y":[1],"x":2}}`, `{"a":{"x":2,"y":[1.0]},"b":1}`, true)
	f(`{"a":1,"b":2}`, `{"a":1,"c":2}`, false)
	f(`{"a":1,"b":2}`, `{"a":1,"b":3}`, false)
	f(`{"a":1,"a":1}`, `{"a":1}`, true)
	f(`{"a":1,"b":1}`, `{"a":1,"a":1}`, false)
	f(`{"\u0061":1,"a":2}`, `{"a":2}`, true)
	f(`true`, `true`, true)
	f(`true`, `false`, false)
	f(`null`, ` null `, true)
	f(`nul`, `nul`, false)
	f(``, ``, false)
	f(`[1,]`, `[1]`, false)
	f(`{"a":[}`, `{"a":[}`, false)
}

func TestEqualAgainstEncodingJSON(t *testing.T) {
	docs := []string{
		`{"a":1,"b":[1,2,{"c":null}]}`, `{"b":[1,2,{"c":null}],"a":1}`, `{"b":[1,2,{"c":null}],"a":1.0}`,
		`{"b":[1,2,{"c":false}],"a":1}`, `{"a":1}`, `[1,2]`, `[2,1]`, `"x"`, `"\u0078"`, `1`, `1e0`,
		`{"a":{"a":{"a":1}}}`, `{"a":{"a":{"a":2}}}`, `{"a":1,"a":2}`, `{"a":2}`, `[]`, `{}`, `null`,
		`{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5}`, `{"k5":5,"k4":4,"k3":3,"k2":2,"k1":1}`,
	}
	for _, a := range docs {
		for _, b := range docs {
			var va, vb any
			if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
				t.Fatalf("corpus entry does not decode: %s / %s", a, b)
			}
			if want := jsonDeepEqual(va, vb); Equal([]byte(a), []byte(b)) != want {
				t.Errorf("Equal(%s, %s) = %v; encoding/json says %v", a, b, !want, want)
			}
		}
	}
}

// jsonDeepEqual compares values decoded by encoding/json.
func jsonDeepEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !jsonDeepEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonDeepEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// TestEqualManyKeys checks that objects with many keys in different orders
// compare quickly and correctly (the comparison sorts rather than scans).
func TestEqualManyKeys(t *testing.T) {
	const n = 20000
	var a, b strings.Builder
	a.WriteByte('{')
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			a.WriteByte(',')
			b.WriteByte(',')
		}
		a.WriteString(`"k` + itoa(i) + `":` + itoa(i))
		b.WriteString(`"k` + itoa(n-1-i) + `":` + itoa(n-1-i))
	}
	a.WriteByte('}')
	b.WriteByte('}')
	if !Equal([]byte(a.String()), []byte(b.String())) {
		t.Fatal("reordered objects compare unequal")
	}
	c := strings.Replace(b.String(), `"k7":7`, `"k7":8`, 1)
	if Equal([]byte(a.String()), []byte(c)) {
		t.Fatal("objects differing in one value compare equal")
	}
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(dst []byte, i int) []byte {
	if i >= 10 {
		dst = appendInt(dst, i/10)
	}
	return append(dst, byte('0'+i%10))
}

// TestConcurrentUse runs every entry point from several goroutines on
// shared inputs (run with -race).
func TestConcurrentUse(t *testing.T) {
	doc := []byte(`{"a":{"b":[1,2,3]},"c":"x","d":{"e":1,"f":2}}`)
	other := []byte(`{"d":{"f":2,"e":1.0},"c":"x","a":{"b":[1,2,3]}}`)
	p := MustParse("a.b[1]")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst []byte
			for i := 0; i < 200; i++ {
				var err error
				if dst, err = p.Set(dst[:0], doc, []byte(`9`)); err != nil {
					t.Error(err)
					return
				}
				if v, ok, _ := p.Get(dst); !ok || string(v) != "9" {
					t.Errorf("Get = %s %v", v, ok)
					return
				}
				if !Equal(doc, other) || Equal(doc, dst) {
					t.Error("Equal gave a wrong answer under concurrency")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	doc := benchDoc()
	other := reorderedBenchDoc()
	dst := make([]byte, 0, 2*len(doc))
	p := MustParse("position.x")
	check := func(name string, want float64, f func()) {
		t.Helper()
		if got := testing.AllocsPerRun(100, f); got > want {
			t.Errorf("%s: %.1f allocs per call; want at most %.0f", name, got, want)
		}
	}
	check("Valid", 0, func() { _ = Valid(doc) })
	check("Get", 0, func() { _, _, _ = Get(doc, "players[3].name") })
	value := []byte(`12.5`)
	check("Set", 0, func() { dst, _ = Set(dst[:0], doc, "position.x", value) })
	check("Path.Set", 0, func() { dst, _ = p.Set(dst[:0], doc, value) })
	check("Set new key", 0, func() { dst, _ = Set(dst[:0], doc, "position.w", value) })
	check("Erase", 0, func() { dst, _ = Erase(dst[:0], doc, "players[2]") })
	check("Parse", 0, func() { _, _ = Parse("a.b[2].c") })
	Equal(doc, other) // warm the pool
	check("Equal", 0, func() { Equal(doc, other) })
}

// plain8 must agree with the byte table: every byte value at every one of
// the eight positions, among plain bytes and among other special ones.
func TestPlain8MatchesTable(t *testing.T) {
	check := func(w [8]byte) {
		t.Helper()
		want := true
		for _, c := range w {
			want = want && plainStr[c]
		}
		v := uint64(0)
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(w[k])
		}
		if got := plain8(v); got != want {
			t.Fatalf("plain8(% x) = %v, want %v", w, got, want)
		}
	}
	for _, fill := range []byte{'a', ' ', '~', '"', 0x1f, 0x80, 0x00, 0xff, '\\', '!', '#', '[', ']'} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for k := range w {
					w[k] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		for k := range w {
			w[k] = byte(rng.IntN(256))
			if rng.IntN(4) != 0 {
				w[k] = byte(0x20 + rng.IntN(0x60))
			}
		}
		check(w)
	}
}

// A far index is refused before its padding is written: the work and the
// memory are bounded by SetMax's limit, not by the index.
func TestSetMaxBoundsPadding(t *testing.T) {
	path := strings.Repeat("[1000000]", 100)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := SetMax(nil, []byte(`{}`), path, []byte(`1`), 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("SetMax = %d bytes, %v; want ErrTooLarge", len(out), err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("SetMax allocated %d bytes before refusing", grew)
	}
	// Under the limit, a deep far index still works.
	out, err = SetMax(nil, []byte(`{}`), "a[200000]", []byte(`1`), 1<<20)
	if err != nil || len(out) < 1000000 {
		t.Fatalf("SetMax under the limit: %d bytes, %v", len(out), err)
	}
	if _, err = SetMax(nil, []byte(`{}`), "a[200000][200000]", []byte(`1`), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("two levels of padding past the limit: %v", err)
	}
}

// Numbers past the range of a float64 are not valid data: a reader would
// see them as infinities.
func TestNumbersOutOfRange(t *testing.T) {
	for _, n := range []string{"1e999", "-1e999", "1.8e308", "1E+400", strings.Repeat("9", 400), "[1,2e500]", `{"a":1e309}`} {
		if err := Valid([]byte(n)); !errors.Is(err, ErrJSON) {
			t.Errorf("Valid(%.40s) = %v; want ErrJSON", n, err)
		}
		if _, err := Set(nil, []byte(`{}`), "a", []byte(n)); !errors.Is(err, ErrValue) {
			t.Errorf("Set(a, %.40s) = %v; want ErrValue", n, err)
		}
	}
	for _, n := range []string{"1e308", "1.7976931348623157e308", "-1.7976931348623157e308", "1e-999", "0e999", strings.Repeat("9", 308), "123.456e-7"} {
		if err := Valid([]byte(n)); err != nil {
			t.Errorf("Valid(%.40s) = %v", n, err)
		}
	}
}
