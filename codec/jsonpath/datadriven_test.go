package jsonpath

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs in testdata/ with the actual ones")

// TestDataDriven runs the cases in testdata/*. Each case is
//
//	command [path]
//	input lines
//	----
//	expected output
//
// followed by a blank line; lines starting with # are comments. The path is
// the rest of the command line, or a Go-quoted string when it starts with
// a quote ("" for the root). Commands:
//
//	parse PATH     no input; prints String() and Len(), or the error
//	get PATH       input: the document; prints the value, absent, or the error
//	set PATH       input: the document, then the value on the last line
//	erase PATH     input: the document
//	valid          input: the document; prints ok or the error
//	compact        input: the document
//	equal          input: two lines; prints true or false
//
// With -rewrite the files are rewritten with the actual outputs; review
// the diff before committing.
func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata files")
	}
	for _, file := range files {
		if fi, err := os.Stat(file); err != nil || fi.IsDir() {
			continue // testdata/fuzz holds the fuzz corpus
		}
		t.Run(filepath.Base(file), func(t *testing.T) { runDataFile(t, file) })
	}
}

func runDataFile(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var out strings.Builder
	changed := false
	for i := 0; i < len(lines); {
		line := lines[i]
		if line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			i++
			continue
		}
		start := i + 1 // 1-based line number of the command
		cmd := line
		i++
		var input []string
		for i < len(lines) && lines[i] != "----" {
			input = append(input, lines[i])
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: case without ----", file, start)
		}
		i++ // ----
		var want []string
		for i < len(lines) && lines[i] != "" {
			want = append(want, lines[i])
			i++
		}
		got := runCase(t, file, start, cmd, input)
		if got != strings.Join(want, "\n") {
			changed = true
			if !*rewrite {
				t.Errorf("%s:%d: %s\n got: %s\nwant: %s", file, start, cmd, got, strings.Join(want, "\n"))
			}
		}
		out.WriteString(cmd + "\n")
		for _, l := range input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n" + got + "\n")
	}
	if *rewrite && changed {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runCase runs one case and returns its output. Besides printing, it checks
// the package invariants on every successful Set and Erase.
func runCase(t *testing.T, file string, line int, cmdLine string, input []string) string {
	t.Helper()
	where := file + ":" + strconv.Itoa(line)
	name, arg, _ := strings.Cut(cmdLine, " ")
	if strings.HasPrefix(arg, `"`) {
		s, err := strconv.Unquote(arg)
		if err != nil {
			t.Fatalf("%s: bad quoted path %s: %v", where, arg, err)
		}
		arg = s
	}
	doc := []byte(strings.Join(input, "\n"))
	switch name {
	case "parse":
		p, err := Parse(arg)
		if err != nil {
			return "error: " + err.Error()
		}
		if p.String() != arg {
			t.Errorf("%s: String() = %q, parsed %q", where, p.String(), arg)
		}
		return strconv.Quote(p.String()) + " len=" + strconv.Itoa(p.Len())
	case "get":
		v, ok, err := Get(doc, arg)
		switch {
		case err != nil:
			return "error: " + err.Error()
		case !ok:
			return "absent"
		}
		return string(v)
	case "set":
		if len(input) < 2 {
			t.Fatalf("%s: set needs a document and a value", where)
		}
		doc = []byte(strings.Join(input[:len(input)-1], "\n"))
		value := []byte(input[len(input)-1])
		res, err := Set(nil, doc, arg, value)
		if err != nil {
			return "error: " + err.Error()
		}
		checkResult(t, where, res)
		got, ok, err := Get(res, arg)
		if err != nil || !ok || !Equal(got, value) {
			t.Errorf("%s: Get after Set = %s, %v, %v; want %s", where, got, ok, err, value)
		}
		return string(res)
	case "erase":
		res, err := Erase(nil, doc, arg)
		if err != nil {
			return "error: " + err.Error()
		}
		checkResult(t, where, res)
		if !strings.HasSuffix(arg, "]") {
			if v, ok, err := Get(res, arg); err != nil || ok {
				t.Errorf("%s: Get after Erase = %s, %v, %v; want absent", where, v, ok, err)
			}
		}
		return string(res)
	case "valid":
		if err := Valid(doc); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "compact":
		res, err := Compact(nil, doc)
		if err != nil {
			return "error: " + err.Error()
		}
		checkResult(t, where, res)
		return string(res)
	case "equal":
		if len(input) != 2 {
			t.Fatalf("%s: equal needs two lines", where)
		}
		a, b := []byte(input[0]), []byte(input[1])
		eq := Equal(a, b)
		if Equal(b, a) != eq {
			t.Errorf("%s: Equal is not symmetric", where)
		}
		return strconv.FormatBool(eq)
	}
	t.Fatalf("%s: unknown command %q", where, name)
	return ""
}

// checkResult asserts that a Set or Erase result is valid compact JSON.
func checkResult(t *testing.T, where string, res []byte) {
	t.Helper()
	if err := Valid(res); err != nil {
		t.Errorf("%s: result %s is not valid: %v", where, res, err)
		return
	}
	c, _ := Compact(nil, res)
	if string(c) != string(res) {
		t.Errorf("%s: result %s is not compact", where, res)
	}
}
