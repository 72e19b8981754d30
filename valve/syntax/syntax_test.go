package syntax

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const sample = `record:
  "*":            { read: true, write: true, create: true, delete: true, listen: true }
  "auction/item/$sellerId/$itemId":
    read: true
    write: "user.data.canBid && data.price > oldData.price"
    delete: "user.id == $sellerId"
  "profile/$userId": { write: "user.id == $userId && _('settings/' + $userId).editable" }
event:   { "*": { publish: true, subscribe: true, listen: true } }
rpc:     { "*": { provide: true, request: true } }
presence: { "*": { allow: true } }
`

func TestParseSample(t *testing.T) {
	f, err := Parse([]byte(sample), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Topics) != 4 {
		t.Fatalf("topics: %d", len(f.Topics))
	}
	rec := f.Topics[0]
	if rec.Name != "record" || len(rec.Rules) != 3 {
		t.Fatalf("record: %+v", rec)
	}
	auction := rec.Rules[1]
	if auction.Pattern.Text != "auction/item/$sellerId/$itemId" || auction.Pos != (Pos{3, 3}) {
		t.Fatalf("auction rule: %+v", auction)
	}
	if !reflect.DeepEqual(auction.Pattern.Captures, []string{"sellerId", "itemId"}) {
		t.Fatalf("captures: %v", auction.Pattern.Captures)
	}
	w := auction.Actions[1]
	if w.Name != "write" || !w.Value.IsExpr || w.Value.Expr != "user.data.canBid && data.price > oldData.price" {
		t.Fatalf("write: %+v", w)
	}
	// "data" starts at column 28 of the expression; the quote is at 5:12.
	if got := w.Value.ExprPos(1, 25); got != (Pos{5, 37}) {
		t.Fatalf("ExprPos: %v", got)
	}
	if r := auction.Actions[0]; r.Value.IsExpr || !r.Value.Bool {
		t.Fatalf("read: %+v", r)
	}
}

func TestBlockScalarPositions(t *testing.T) {
	src := "record:\n  a:\n    write: |\n\n      user.id == 'x' &&\n        data.x\n"
	f, err := Parse([]byte(src), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v := f.Topics[0].Rules[0].Actions[0].Value
	if got := v.ExprPos(1, 1); got != (Pos{5, 7}) {
		t.Fatalf("line 1: %v", got)
	}
	if got := v.ExprPos(2, 3); got != (Pos{6, 9}) {
		t.Fatalf("line 2: %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"records: {}", `f.yaml:1:1: unknown topic "records" (want record, event, rpc, presence)`},
		{"record:\n  a: { reed: true }", `f.yaml:2:8: unknown action "reed" for topic record (want read, write, create, delete, listen)`},
		{"event:\n  a: { write: true }", `f.yaml:2:8: unknown action "write" for topic event (want publish, subscribe, listen)`},
		{"rpc:\n  a: { read: true }", `f.yaml:2:8: unknown action "read" for topic rpc (want provide, request)`},
		{"presence:\n  a: { read: true }", `f.yaml:2:8: unknown action "read" for topic presence (want allow)`},
		{"record:\n  a: { read: 1 }", `f.yaml:2:14: a rule must be true, false or an expression string, not a number (1)`},
		{"record:\n  a: { read: [true] }", `f.yaml:2:14: a rule must be true, false or an expression string, not a list`},
		{"record:\n  a: { read: }", `f.yaml:2:14: a rule must be true, false or an expression string, not null`},
		{"record:\n  a: { read: '  ' }", `f.yaml:2:14: empty expression`},
		{"record:\n  a: true", `f.yaml:2:6: record "a" must map actions to rules, not a boolean`},
		{"record: [a]", `f.yaml:1:9: topic record must map patterns to actions, not a list`},
		{"- a", `f.yaml:1:1: the file must be a mapping from topic to rules, not a list`},
		{"record:\n  a: {read: true}\n  a: {read: false}", `f.yaml:3:3: pattern "a" defined twice in record (first at 2:3)`},
		{"record:\n  a: {read: true, read: false}", `f.yaml:2:19: action "read" defined twice (first at 2:7)`},
		{"record: {}\nrecord: {}", `f.yaml:2:1: topic "record" defined twice (first at 1:1)`},
		{"record:\n  a/$x$y: {read: true}", `f.yaml:2:3: pattern "a/$x$y": $x must fill a whole segment: follow it with '/' or end the pattern`},
		{"record:\n  a$x: {read: true}", `f.yaml:2:3: pattern "a$x": $x must fill a whole segment: put it after '/' or at the start`},
		{"record:\n  $x/$x: {read: true}", `f.yaml:2:3: pattern "$x/$x": $x appears twice`},
		{"record:\n  a/$: {read: true}", `f.yaml:2:3: pattern "a/$": '$' must start a variable name such as $id`},
		{"record:\n  '': {read: true}", `f.yaml:2:3: pattern "": empty pattern`},
		{"record:\n  a: {read: true}\n   b: c", `f.yaml:3:4: bad YAML: did not find expected key`},
		{"record:\n\ta: {}", `f.yaml:2:1: bad YAML: found character that cannot start any token`},
		{"record:\n  <<: {read: true}", `f.yaml:2:3: merge keys (<<) are not supported`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.src), "f.yaml")
		if err == nil {
			t.Errorf("%q: no error, want %s", c.src, c.want)
			continue
		}
		if got := err.Error(); got != "valve: "+c.want {
			t.Errorf("%q:\n got %s\nwant valve: %s", c.src, got, c.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.File != "f.yaml" || e.Pos.Line == 0 || e.Pos.Col == 0 {
			t.Errorf("%q: error without position: %#v", c.src, err)
		}
	}
}

func TestParseCollectsErrors(t *testing.T) {
	_, err := Parse([]byte("record:\n  a: {reed: true}\n  b: {raed: true}\nfoo: {}\n"), "f.yaml")
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	if !strings.Contains(list[2].Error(), `f.yaml:4:1: unknown topic "foo"`) {
		t.Fatalf("third error: %v", list[2])
	}
}

func TestParseReturnsGoodParts(t *testing.T) {
	f, err := Parse([]byte("record:\n  a: {reed: true, read: \"x == 1\"}\nfoo: {}\nevent:\n  b: {publish: true}\n"), "f.yaml")
	if err == nil || f == nil {
		t.Fatalf("want a partial file and an error, got %v, %v", f, err)
	}
	if len(f.Topics) != 2 || len(f.Topics[0].Rules[0].Actions) != 1 || f.Topics[1].Name != "event" {
		t.Fatalf("partial file: %+v", f.Topics)
	}
	if f, err := Parse([]byte("a: [\n"), "f.yaml"); f != nil || err == nil {
		t.Fatal("bad YAML must give no file")
	}
}

func TestEmptyFiles(t *testing.T) {
	for _, src := range []string{"", "# nothing\n", "~", "record:\n"} {
		f, err := Parse([]byte(src), "f.yaml")
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		for _, tp := range f.Topics {
			if len(tp.Rules) != 0 {
				t.Fatalf("%q: rules in an empty file", src)
			}
		}
	}
}

func TestAliases(t *testing.T) {
	src := "record:\n  a: &open {read: true, write: \"user.id == 'x'\"}\n  b: *open\n"
	f, err := Parse([]byte(src), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := f.Topics[0].Rules[1]
	if b.Pattern.Text != "b" || len(b.Actions) != 2 || b.Actions[1].Value.Expr != "user.id == 'x'" {
		t.Fatalf("alias not followed: %+v", b)
	}
}

func TestParsePattern(t *testing.T) {
	cases := []struct {
		in    string
		parts string
		lit   int
	}{
		{"*", "*", 0},
		{"a/b", "'a/b'", 3},
		{"a/**/b", "'a/' * '/b'", 4},
		{"$x", "$x", 0},
		{"auction/item/$seller/$item", "'auction/item/' $seller '/' $item", 14},
		{"a/$x/*", "'a/' $x '/' *", 3},
		{"*/$id", "* '/' $id", 1},
	}
	for _, c := range cases {
		p, err := ParsePattern(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		var parts []string
		for _, part := range p.Parts {
			switch part.Kind {
			case Literal:
				parts = append(parts, "'"+part.Text+"'")
			case Star:
				parts = append(parts, "*")
			case Capture:
				parts = append(parts, "$"+part.Text)
			}
		}
		if got := strings.Join(parts, " "); got != c.parts || p.Literals != c.lit {
			t.Errorf("%q: got %s (%d literal), want %s (%d)", c.in, got, p.Literals, c.parts, c.lit)
		}
	}
	many := ""
	for i := 0; i <= MaxCaptures; i++ {
		many += "$v" + string(rune('a'+i)) + "/"
	}
	if _, err := ParsePattern(strings.TrimSuffix(many, "/")); err == nil {
		t.Fatal("17 captures accepted")
	}
}

func TestFormatRoundTrip(t *testing.T) {
	f, err := Parse([]byte(sample), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Format(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(out, "rules.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !sameRules(f, g) {
		t.Fatalf("round trip changed the rules:\n%s", out)
	}
}

// sameRules compares two files ignoring positions.
func sameRules(a, b *File) bool {
	if len(a.Topics) != len(b.Topics) {
		return false
	}
	for i, ta := range a.Topics {
		tb := b.Topics[i]
		if ta.Name != tb.Name || len(ta.Rules) != len(tb.Rules) {
			return false
		}
		for j, ra := range ta.Rules {
			rb := tb.Rules[j]
			if !reflect.DeepEqual(ra.Pattern, rb.Pattern) || len(ra.Actions) != len(rb.Actions) {
				return false
			}
			for k, aa := range ra.Actions {
				ab := rb.Actions[k]
				if aa.Name != ab.Name || aa.Value.IsExpr != ab.Value.IsExpr ||
					aa.Value.Bool != ab.Value.Bool || aa.Value.Expr != ab.Value.Expr {
					return false
				}
			}
		}
	}
	return true
}
