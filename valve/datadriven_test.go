package valve

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output in testdata/*.txt")

// A test file is a list of cases separated by blank lines:
//
//	command arg key=value ...
//	input lines
//	----
//	expected output
//
// Commands:
//
//	rules [maxreads=N] [file=F]  compile the input (or testdata/F) as the
//	                             current rules
//	records                      input lines "name json" (or "name !error")
//	                             become the records _(name) reads
//	check TOPIC ACTION NAME [user=ID] [auth] [now=MS] [noreader]
//	                             input lines "data JSON", "old JSON",
//	                             "userdata JSON"; prints allow or
//	                             deny: reason, then reads: N when records
//	                             were read
//	needs TOPIC ACTION NAME      prints the inputs the rule uses
//	rule TOPIC ACTION NAME       prints the deciding pattern and position
func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runFile(t, file) })
	}
}

type ddCase struct {
	prelude  []string // comment and blank lines before the command
	line     int
	command  string
	input    []string
	expected []string
	ended    bool // a blank line closed the expected output
}

func parseCases(t *testing.T, file string) (cases []*ddCase, trailer []string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cur *ddCase
	inExpected := false
	var prelude []string
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, line := range lines {
		switch {
		case cur == nil && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == ""):
			prelude = append(prelude, line)
		case cur == nil:
			cur = &ddCase{prelude: prelude, line: i + 1, command: line}
			prelude = nil
			inExpected = false
		case !inExpected && line == "----":
			inExpected = true
		case !inExpected:
			cur.input = append(cur.input, line)
		case line == "":
			cur.ended = true
			cases = append(cases, cur)
			cur = nil
		default:
			cur.expected = append(cur.expected, line)
		}
	}
	if cur != nil {
		if !inExpected {
			t.Fatalf("%s:%d: case without ----", file, cur.line)
		}
		cases = append(cases, cur)
	}
	return cases, prelude
}

func runFile(t *testing.T, file string) {
	cases, trailer := parseCases(t, file)
	h := &harness{}
	var out strings.Builder
	for _, c := range cases {
		got := h.run(t, c)
		if *rewrite {
			for _, l := range c.prelude {
				out.WriteString(l + "\n")
			}
			out.WriteString(c.command + "\n")
			for _, l := range c.input {
				out.WriteString(l + "\n")
			}
			out.WriteString("----\n" + got + "\n")
			if c.ended {
				out.WriteString("\n")
			}
			continue
		}
		if want := strings.Join(c.expected, "\n"); got != want {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", file, c.line, c.command, got, want)
		}
	}
	if *rewrite {
		for _, l := range trailer {
			out.WriteString(l + "\n")
		}
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type harness struct {
	rules   *Rules
	records *fakeRecords
}

type fakeRecords struct {
	docs  map[string]string
	fail  map[string]bool
	reads int
}

func (f *fakeRecords) ReadRecord(name string) ([]byte, bool, error) {
	f.reads++
	if f.fail[name] {
		return nil, false, errors.New("store unavailable")
	}
	d, ok := f.docs[name]
	return []byte(d), ok, nil
}

func (h *harness) run(t *testing.T, c *ddCase) string {
	fields := strings.Fields(c.command)
	args := map[string]string{}
	var pos []string
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			args[k] = v
		} else if f == "auth" || f == "noreader" {
			args[f] = "yes"
		} else {
			pos = append(pos, f)
		}
	}
	switch fields[0] {
	case "rules":
		var opts Options
		if n, ok := args["maxreads"]; ok {
			opts.MaxReads, _ = strconv.Atoi(n)
		}
		var r *Rules
		var err error
		if name, ok := args["file"]; ok {
			r, err = LoadWith(filepath.Join("testdata", name), opts)
		} else {
			r, err = ParseWith([]byte(strings.Join(c.input, "\n")+"\n"), "rules.yaml", opts)
		}
		if err != nil {
			h.rules = nil
			return err.Error()
		}
		h.rules = r
		return "ok"
	case "records":
		h.records = &fakeRecords{docs: map[string]string{}, fail: map[string]bool{}}
		for _, l := range c.input {
			name, doc, _ := strings.Cut(l, " ")
			if doc == "!error" {
				h.records.fail[name] = true
			} else {
				h.records.docs[name] = doc
			}
		}
		return "ok"
	case "check", "needs", "rule":
		if len(pos) != 3 {
			t.Fatalf("line %d: want TOPIC ACTION NAME", c.line)
		}
		if h.rules == nil {
			return "no rules"
		}
		switch fields[0] {
		case "needs":
			n := h.rules.Needs(pos[0], pos[1], pos[2])
			var words []string
			if n.Data {
				words = append(words, "data")
			}
			if n.OldData {
				words = append(words, "oldData")
			}
			if n.Records {
				words = append(words, "records")
			}
			if len(words) == 0 {
				return "none"
			}
			return strings.Join(words, " ")
		case "rule":
			p, at, ok := h.rules.Rule(pos[0], pos[1], pos[2])
			if !ok {
				return "none"
			}
			return fmt.Sprintf("%q at %s", p, at)
		}
		return h.check(t, c, pos, args)
	}
	t.Fatalf("line %d: unknown command %q", c.line, fields[0])
	return ""
}

func (h *harness) check(t *testing.T, c *ddCase, pos []string, args map[string]string) string {
	req := &Request{Topic: pos[0], Action: pos[1], Name: pos[2]}
	if id, ok := args["user"]; ok {
		req.User = &User{ID: id, Authenticated: args["auth"] == "yes"}
	}
	if n, ok := args["now"]; ok {
		req.Now, _ = strconv.ParseInt(n, 10, 64)
	}
	for _, l := range c.input {
		kind, doc, _ := strings.Cut(l, " ")
		switch kind {
		case "data":
			req.Data = []byte(doc)
		case "old":
			req.OldData = []byte(doc)
		case "userdata":
			if req.User == nil {
				req.User = &User{}
			}
			req.User.Data = []byte(doc)
		default:
			t.Fatalf("line %d: unknown input %q", c.line, kind)
		}
	}
	var rr RecordReader
	if h.records != nil && args["noreader"] == "" {
		h.records.reads = 0
		rr = h.records
	}
	d := h.rules.Check(req, rr)
	out := "allow"
	if !d.Allow {
		out = "deny: " + d.Reason
	} else if d.Reason != "" {
		t.Errorf("line %d: allow with a reason: %s", c.line, d.Reason)
	}
	if h.records != nil && h.records.reads > 0 {
		out += fmt.Sprintf("\nreads: %d", h.records.reads)
	}
	return out
}
