package jsonpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Seeds shared by the fuzz targets; more come from the testdata files.
var (
	seedDocs = []string{
		`{}`, `[]`, `{"a":1,"b":{"c":[1,2,{"d":null}]}}`, `{"a":[[1,2],[3]],"a":{"x":"y"}}`,
		` { "s" : "\u00e9\ud83d\ude42\"" , "n" : -1.5e3 } `, `{"\u0061":true,"é":[false]}`,
		`[{"a":1},{"a":2}]`, `"str"`, `12`, `null`, `{"a":{"b":{"c":{"d":{}}}}}`, `{"a":1,}`, `{"a"`,
	}
	seedPaths = []string{
		"", "a", "b.c", "b.c[2].d", "a[1][0]", "[0]", "[1].a", "a.x", "é", "s", "a[5]", "a..b", "a[01]",
		"a[1000000]", "a b", "[0][0][0]",
	}
	seedValues = []string{`1`, `"v"`, `{"k":[1,{}]}`, ` [ null ] `, `{`, ``, `1e400`, `"\ud800"`}
)

// testdataDocs returns the documents used in testdata/get, set and erase.
func testdataDocs(f *testing.F) []string {
	var docs []string
	for _, name := range []string{"get", "set", "erase"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range strings.Split(string(data), "\n\n") {
			lines := strings.Split(strings.TrimSpace(c), "\n")
			for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
				lines = lines[1:]
			}
			if len(lines) >= 3 {
				docs = append(docs, lines[1])
			}
		}
	}
	return docs
}

func FuzzParse(f *testing.F) {
	for _, p := range seedPaths {
		f.Add(p)
	}
	f.Add("x\xff")
	f.Add("a[1]]")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrSyntax) || !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(s) {
				t.Fatalf("Parse(%q) error %v lacks ErrSyntax or a sane offset", s, err)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, p.String())
		}
		q, err := Parse(p.String())
		if err != nil || q != p {
			t.Fatalf("Parse(String()) = %v, %v; want %v", q, err, p)
		}
		// Walking the segments visits exactly Len of them and rebuilds s.
		var rebuilt strings.Builder
		n := 0
		for pos := 0; pos < len(s); n++ {
			seg, next := nextSegment(s, pos)
			if seg.isIdx {
				rebuilt.WriteString("[" + strconv.Itoa(seg.index) + "]")
			} else {
				if n > 0 {
					rebuilt.WriteByte('.')
				}
				rebuilt.WriteString(seg.key)
			}
			pos = next
		}
		if n != p.Len() || rebuilt.String() != s {
			t.Fatalf("segments of %q: %d, %q; want %d", s, n, rebuilt.String(), p.Len())
		}
		if par := p.Parent(); !p.HasPrefix(par) || (p.Len() > 0 && par.Len() != p.Len()-1) {
			t.Fatalf("Parent(%q) = %q", s, par)
		}
	})
}

func FuzzSet(f *testing.F) {
	docs := append(seedDocs, testdataDocs(f)...)
	for i, d := range docs {
		f.Add([]byte(d), seedPaths[i%len(seedPaths)], []byte(seedValues[i%len(seedValues)]))
	}
	f.Fuzz(func(t *testing.T, doc []byte, path string, value []byte) {
		out, err := Set(nil, doc, path, value)
		if err != nil {
			checkErrorKind(t, err, doc, path, value)
			return
		}
		checkOutput(t, out)
		// SetMax gives Set's result when it fits and ErrTooLarge when not.
		for _, max := range []int{len(out), len(out) - 1, len(out) / 2} {
			bounded, err := SetMax(nil, doc, path, value, max)
			switch {
			case max <= 0:
			case len(out) <= max && (err != nil || !bytes.Equal(bounded, out)):
				t.Fatalf("SetMax(%s, %q, %s, %d) = %s, %v; Set gives %s", doc, path, value, max, bounded, err, out)
			case len(out) > max && !errors.Is(err, ErrTooLarge):
				t.Fatalf("SetMax(%s, %q, %s, %d) = %d bytes, %v; want ErrTooLarge", doc, path, value, max, len(bounded), err)
			}
		}
		got, ok, err := Get(out, path)
		if err != nil || !ok || !Equal(got, value) {
			t.Fatalf("Get(Set(%s, %q, %s)) = %s, %v, %v", doc, path, value, got, ok, err)
		}
		again, err := Set(nil, out, path, value)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Set is not idempotent on %s at %q: %s, %v", out, path, again, err)
		}
		if len(out) > 1<<16 {
			return // padded to a large index: the reference model would be slow
		}
		if want, ok := refApply(doc, path, value, false); ok && !Equal(out, want) {
			t.Fatalf("Set(%s, %q, %s) = %s; the reference model gives %s", doc, path, value, out, want)
		}
	})
}

func FuzzErase(f *testing.F) {
	docs := append(seedDocs, testdataDocs(f)...)
	for i, d := range docs {
		f.Add([]byte(d), seedPaths[i%len(seedPaths)])
	}
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		out, err := Erase(nil, doc, path)
		if err != nil {
			if path == "" && err == ErrRoot {
				return
			}
			checkErrorKind(t, err, doc, path, []byte("0"))
			return
		}
		checkOutput(t, out)
		// Erasing a path Get does not find keeps the document's meaning (the
		// bytes may change when an earlier member of a repeated key had it).
		if _, had, _ := Get(doc, path); !had && !Equal(out, doc) {
			t.Fatalf("Erase of missing %q changed %s to %s", path, doc, out)
		}
		if !strings.HasSuffix(path, "]") {
			if v, ok, err := Get(out, path); ok || err != nil {
				t.Fatalf("Get(Erase(%s, %q)) = %s, %v, %v; want absent", doc, path, v, ok, err)
			}
			if again, err := Erase(nil, out, path); err != nil || !bytes.Equal(again, out) {
				t.Fatalf("Erase is not idempotent on %s at %q: %s, %v", out, path, again, err)
			}
		}
		if want, ok := refApply(doc, path, nil, true); ok && !Equal(out, want) {
			t.Fatalf("Erase(%s, %q) = %s; the reference model gives %s", doc, path, out, want)
		}
	})
}

func FuzzGet(f *testing.F) {
	docs := append(seedDocs, testdataDocs(f)...)
	for i, d := range docs {
		f.Add([]byte(d), seedPaths[i%len(seedPaths)])
	}
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		v, ok, err := Get(doc, path)
		if err != nil {
			checkErrorKind(t, err, doc, path, []byte("0"))
			return
		}
		if ok && Valid(v) != nil {
			t.Fatalf("Get(%s, %q) = invalid %s", doc, path, v)
		}
		var tree any
		if !refDecodable(doc) || json.Unmarshal(doc, &tree) != nil {
			return
		}
		want, wantOK := refGet(tree, path)
		if ok != wantOK {
			t.Fatalf("Get(%s, %q) ok = %v; the reference model says %v", doc, path, ok, wantOK)
		}
		if ok {
			w, _ := json.Marshal(want)
			if !Equal(v, w) {
				t.Fatalf("Get(%s, %q) = %s; the reference model gives %s", doc, path, v, w)
			}
		}
	})
}

func FuzzValid(f *testing.F) {
	for _, s := range append(validCorpus, seedDocs...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Valid(b)
		if err == nil != json.Valid(b) {
			var e *Error
			if err == nil || !errors.As(err, &e) ||
				!strings.Contains(e.Reason, "UTF-8") && !strings.Contains(e.Reason, "nesting") && !strings.Contains(e.Reason, "range of a float64") {
				t.Fatalf("Valid(%q) = %v but encoding/json says %v", b, err, json.Valid(b))
			}
		}
		c, cerr := Compact(nil, b)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Valid and Compact disagree on %q: %v / %v", b, err, cerr)
		}
		if err != nil {
			if !errors.Is(err, ErrJSON) {
				t.Fatalf("Valid(%q) error %v does not wrap ErrJSON", b, err)
			}
			return
		}
		checkOutput(t, c)
		if !Equal(b, c) || !Equal(b, b) {
			t.Fatalf("%q is not Equal to its compact form %q or itself", b, c)
		}
	})
}

func FuzzEqual(f *testing.F) {
	pairs := [][2]string{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1.0}`}, {`{"a":1,"a":2}`, `{"a":2}`}, {`"\u00e9"`, `"é"`},
		{`[1,{"x":{}}]`, `[1,{"x":[]}]`}, {`1e2`, `100`}, {`{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9}`,
			`{"k9":9,"k8":8,"k7":7,"k6":6,"k5":5,"k4":4,"k3":3,"k2":2,"k1":1}`},
	}
	for _, p := range pairs {
		f.Add([]byte(p[0]), []byte(p[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		eq := Equal(a, b)
		if Equal(b, a) != eq {
			t.Fatalf("Equal(%s, %s) is not symmetric", a, b)
		}
		if eq && (Valid(a) != nil || Valid(b) != nil) {
			t.Fatalf("Equal(%s, %s) is true for invalid input", a, b)
		}
		if Valid(a) == nil {
			padded := append(append([]byte(" "), a...), '\n')
			if !Equal(a, padded) {
				t.Fatalf("%s is not Equal to itself padded", a)
			}
		}
		var va, vb any
		if !refDecodable(a) || !refDecodable(b) || json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
			return
		}
		if want := jsonDeepEqual(va, vb); eq != want {
			t.Fatalf("Equal(%s, %s) = %v; encoding/json says %v", a, b, eq, want)
		}
	})
}

// checkErrorKind asserts that a failed Get, Set or Erase blamed the right
// input: the path first, then the value, then the document.
func checkErrorKind(t *testing.T, err error, doc []byte, path string, value []byte) {
	t.Helper()
	var want error
	switch {
	case func() bool { _, e := Parse(path); return e != nil }():
		want = ErrSyntax
	case Valid(value) != nil:
		want = ErrValue
	case Valid(doc) != nil:
		want = ErrJSON
	default:
		want = ErrValue // the result would nest too deep
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v for doc %q path %q value %q; want %v", err, doc, path, value, want)
	}
	if want == ErrValue && Valid(value) == nil && !strings.Contains(err.Error(), "deeper") {
		t.Fatalf("unexpected error %v for valid inputs %q %q %q", err, doc, path, value)
	}
}

// checkOutput asserts that b is valid compact JSON.
func checkOutput(t *testing.T, b []byte) {
	t.Helper()
	if err := Valid(b); err != nil {
		t.Fatalf("output %q is invalid: %v", b, err)
	}
	if c, _ := Compact(nil, b); !bytes.Equal(c, b) {
		t.Fatalf("output %q is not compact", b)
	}
}

// surrogateEscape finds \u escapes of surrogates, which encoding/json
// decodes lossily when unpaired (to U+FFFD), so the reference model skips
// every input that has one.
var surrogateEscape = regexp.MustCompile(`(?i)\\ud[89a-f]`)

func refDecodable(b []byte) bool {
	return Valid(b) == nil && !surrogateEscape.Match(b)
}

// refApply applies Set (or Erase) to doc with a reference model written
// over encoding/json values, and returns the expected result; ok is false
// when the model cannot judge the inputs.
func refApply(doc []byte, path string, value []byte, erase bool) ([]byte, bool) {
	var tree, val any
	if !refDecodable(doc) || json.Unmarshal(doc, &tree) != nil {
		return nil, false
	}
	if !erase && (!refDecodable(value) || json.Unmarshal(value, &val) != nil) {
		return nil, false
	}
	segs := refSegments(path)
	if erase {
		tree = refErase(tree, segs)
	} else {
		tree = refSet(tree, segs, val)
	}
	out, err := json.Marshal(tree)
	return out, err == nil
}

func refSegments(path string) []segment {
	var segs []segment
	for pos := 0; pos < len(path); {
		var s segment
		s, pos = nextSegment(path, pos)
		segs = append(segs, s)
	}
	return segs
}

func refGet(v any, path string) (any, bool) {
	for _, s := range refSegments(path) {
		if s.isIdx {
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil, false
			}
			v = a[s.index]
		} else {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s.key]; !ok {
				return nil, false
			}
		}
	}
	return v, true
}

func refSet(v any, segs []segment, val any) any {
	if len(segs) == 0 {
		return val
	}
	s := segs[0]
	if s.isIdx {
		a, _ := v.([]any)
		for len(a) <= s.index {
			a = append(a, nil)
		}
		a[s.index] = refSet(a[s.index], segs[1:], val)
		return a
	}
	m, ok := v.(map[string]any)
	if !ok {
		m = map[string]any{}
	}
	m[s.key] = refSet(m[s.key], segs[1:], val)
	return m
}

func refErase(v any, segs []segment) any {
	s := segs[0]
	if s.isIdx {
		a, ok := v.([]any)
		if !ok || s.index >= len(a) {
			return v
		}
		if len(segs) == 1 {
			return append(a[:s.index:s.index], a[s.index+1:]...)
		}
		a[s.index] = refErase(a[s.index], segs[1:])
		return a
	}
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	child, ok := m[s.key]
	if !ok {
		return v
	}
	if len(segs) == 1 {
		delete(m, s.key)
	} else {
		m[s.key] = refErase(child, segs[1:])
	}
	return m
}
