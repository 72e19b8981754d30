package expr

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

type records map[string]string

func (r records) ReadRecord(name string) ([]byte, bool, error) {
	if name == "broken" {
		return nil, false, errors.New("disk on fire")
	}
	s, ok := r[name]
	return []byte(s), ok, nil
}

var writeCfg = Config{Captures: []string{"sellerId", "itemId"}, Data: true, OldData: true, Rule: "record write"}

func mustCompile(t testing.TB, src string, cfg Config) *Program {
	t.Helper()
	p, err := Compile(src, cfg)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return p
}

var testCaps = []string{"u1", "i9"}

func baseInput() *Input {
	ud, err := FromJSON([]byte(`{"canBid": true, "roles": ["admin", "seller"], "limit": 10}`))
	if err != nil {
		panic(err)
	}
	return &Input{
		UserID:        "u1",
		Authenticated: true,
		UserData:      ud,
		Name:          "auction/item/u1/i9",
		Action:        "write",
		Now:           1700000000000,
		Data:          []byte(`{"price": 12, "title": "lamp", "tags": ["a", "b"], "owner": {"id": "u1"}, "n": null}`),
		OldData:       []byte(`{"price": 10, "title": "lamp"}`),
		Reader: records{
			"settings/u1": `{"editable": true}`,
			"settings/u2": `{"editable": false}`,
			"bad":         `{`,
		},
	}
}

func TestEval(t *testing.T) {
	cases := []struct {
		src  string
		want any // bool, or a string the error must contain
	}{
		{"true", true},
		{"1 == 2", false},
		{"user.id == $sellerId", true},
		{"user.id == $itemId", false},
		{"user.isAuthenticated", true},
		{"user.data.canBid && data.price > oldData.price", true},
		{"data.price > 11.5 && data.price < 13", true},
		{"data.price == 12", true},
		{"data.title == oldData.title", true},
		{"data.owner.id == user.id", true},
		{"data.tags[1] == 'b'", true},
		{"data.tags[5] == nil", true},
		{"'b' in data.tags", true},
		{"len(data.tags) == 2", true},
		{"data.missing == nil && data.missing.deeper == nil", true},
		{"data.n == nil", true},
		{"data[$itemId] == nil", true},
		{"data['pri' + 'ce'] == 12", true},
		{"data.owner[user.id == 'u1' ? 'id' : 'x'] == 'u1'", true},
		{"data.price.x == nil", true},
		{"user.data.roles[0] == 'admin'", true},
		{"'seller' in user.data.roles", true},
		{"user.data.nothing.at.all == nil", true},
		{"user.data.limit > 9", true},
		{"name == 'auction/item/u1/i9' && action == 'write'", true},
		{"name startsWith 'auction/' && name endsWith '/i9' && name contains 'item'", true},
		{"name matches '^auction/item/[a-z0-9]+/i[0-9]+$'", true},
		{"lower(upper($itemId)) == 'i9' && len(name) == 18", true},
		{"hasPrefix(name, 'auction') && hasSuffix(name, 'i9')", true},
		{"now == 1700000000000 && now > 0", true},
		{"_('settings/' + user.id).editable", true},
		{"_('settings/u2').editable", false},
		{"_('missing') == nil && _('missing').x == nil", true},
		{"_('settings/' + $sellerId).editable && _('settings/' + $sellerId).editable", true},
		{"let p = data.price; p > 11", true},
		{"all(data.tags, # != 'c')", true},
		// Run-time failures deny with an error.
		{"data.title > 3", "invalid operation"},
		{"!data.missing", "interface conversion"},
		{"_('broken') == nil", "disk on fire"},
		{"_('bad') == nil", "invalid JSON"},
		{"_(5) == nil", "_ needs a record name string"},
		{"data.price", "not a boolean"},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			p := mustCompile(t, c.src, writeCfg)
			got, err := p.Eval(baseInput(), testCaps)
			switch want := c.want.(type) {
			case bool:
				if err != nil || got != want {
					t.Fatalf("got %v, %v; want %v", got, err, want)
				}
			case string:
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %v, %v; want error with %q", got, err, want)
				}
				if got {
					t.Fatal("an error must not allow")
				}
			}
		})
	}
}

func TestEvalBadData(t *testing.T) {
	p := mustCompile(t, "data.price > 1", writeCfg)
	in := baseInput()
	in.Data = []byte(`{"price": `)
	_, err := p.Eval(in, testCaps)
	if !errors.Is(err, ErrBadJSON) || !strings.Contains(err.Error(), "data is not valid JSON") {
		t.Fatalf("got %v", err)
	}
	// A rule that does not read data does not parse it.
	q := mustCompile(t, "user.id == 'u1'", writeCfg)
	if ok, err := q.Eval(in, testCaps); !ok || err != nil {
		t.Fatalf("got %v, %v", ok, err)
	}
	in.Data = nil
	if ok, err := p.Eval(in, testCaps); ok || err == nil {
		t.Fatalf("nil data: got %v, %v (nil > 1 must fail)", ok, err)
	}
	r := mustCompile(t, "data == nil", writeCfg)
	if ok, err := r.Eval(in, testCaps); !ok || err != nil {
		t.Fatalf("nil data is null: got %v, %v", ok, err)
	}
}

func TestEvalUserDataError(t *testing.T) {
	p := mustCompile(t, "user.data.x == 1", writeCfg)
	in := baseInput()
	in.UserData, in.UserDataErr = FromJSON([]byte("{"))
	if _, err := p.Eval(in, testCaps); !errors.Is(err, ErrBadJSON) {
		t.Fatalf("got %v", err)
	}
}

func TestReadLimit(t *testing.T) {
	recs := records{}
	var parts []string
	for i := 0; i < 9; i++ {
		name := fmt.Sprintf("r%d", i)
		recs[name] = `{"ok": true}`
		parts = append(parts, fmt.Sprintf("_('%s').ok", name))
	}
	eight := mustCompile(t, strings.Join(parts[:8], " && "), writeCfg)
	nine := mustCompile(t, strings.Join(parts, " && "), writeCfg)
	in := baseInput()
	in.Reader = recs
	if ok, err := eight.Eval(in, testCaps); !ok || err != nil {
		t.Fatalf("8 reads: %v, %v", ok, err)
	}
	ok, err := nine.Eval(in, testCaps)
	if ok || !errors.Is(err, ErrTooManyReads) || !strings.Contains(err.Error(), "at most 8") {
		t.Fatalf("9 reads: %v, %v", ok, err)
	}
	in.MaxReads = 9
	if ok, err := nine.Eval(in, testCaps); !ok || err != nil {
		t.Fatalf("9 reads with MaxReads 9: %v, %v", ok, err)
	}
	in.Reader = nil
	if _, err := eight.Eval(in, testCaps); !errors.Is(err, ErrNoReader) {
		t.Fatalf("no reader: %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	read := Config{Captures: []string{"userId"}, Rule: "record read"}
	cases := []struct {
		src  string
		cfg  Config
		want string
	}{
		{"data.x == 1", read, "1:1: data is not available in record read rules"},
		{"user.id == 'a' && oldData.x", read, "1:19: oldData is not available in record read rules"},
		{"$nope == 'a'", read, "1:1: unknown variable $nope: the pattern has $userId"},
		{"$x == 'a'", Config{Rule: "record read"}, "1:1: unknown variable $x: the pattern has no variables"},
		{"$env.x == 1", read, "1:1: unknown variable $env"},
		{"user.name == 'a'", read, `1:6: user has no field "name"`},
		{"user == nil", read, "1:1: use user.id, user.isAuthenticated or user.data"},
		{"user[1] == nil", read, "1:5: user has the fields id, isAuthenticated and data"},
		{"_ == nil", read, "1:1: _ must be called"},
		{"_('a', 'b') == nil", read, "1:1: _ takes one argument"},
		{"let data = 1; data == 1", read, "cannot redefine data"},
		{"user.id ==", read, "1:10: unexpected token EOF"},
		{"user.id == 'a' &&\n  nosuch", read, "2:3: unknown name nosuch"},
		{"user.id > 1", read, "1:9: invalid operation: > (mismatched types string and int)"},
		{"$userId + 1 == 2", read, "mismatched types string and int"},
		{"user.id", read, "a rule must give a boolean, this one gives string"},
	}
	for _, c := range cases {
		_, err := Compile(c.src, c.cfg)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.src, err, c.want)
		}
	}
}

func TestUses(t *testing.T) {
	cases := []struct {
		src  string
		want Uses
	}{
		{"user.id == $sellerId", Uses{}},
		{"data.price > oldData.price", Uses{Data: true, OldData: true}},
		{"data != nil", Uses{Data: true}},
		{"user.data.canBid", Uses{UserData: true}},
		{"_('x') != nil", Uses{Records: true}},
		{"now > 5", Uses{Now: true}},
	}
	for _, c := range cases {
		if got := mustCompile(t, c.src, writeCfg).Uses(); got != c.want {
			t.Errorf("%q: got %+v, want %+v", c.src, got, c.want)
		}
	}
}

func TestConstant(t *testing.T) {
	for src, want := range map[string]bool{"true": true, "false": false, "1 == 1 && !false": true, "'a' == 'b'": false} {
		isConst, v := mustCompile(t, src, writeCfg).Constant()
		if !isConst || v != want {
			t.Errorf("%q: got %v %v", src, isConst, v)
		}
	}
	if isConst, _ := mustCompile(t, "user.id == 'x'", writeCfg).Constant(); isConst {
		t.Error("user.id == 'x' reported constant")
	}
}

func TestPathSlotsShared(t *testing.T) {
	p := mustCompile(t, "data.price > 1 && data.price < 100 && data['price'] != 5", writeCfg)
	if len(p.paths) != 1 {
		t.Fatalf("paths: %+v", p.paths)
	}
	var src []string
	for i := 0; i <= MaxPaths; i++ {
		src = append(src, fmt.Sprintf("data.f%d == 1", i))
	}
	if _, err := Compile(strings.Join(src, " || "), writeCfg); err == nil || !strings.Contains(err.Error(), "more than 32") {
		t.Fatalf("33 paths: %v", err)
	}
}

// TestConcurrentEval runs programs from many goroutines; with -race it
// checks that pooled environments are never shared.
func TestConcurrentEval(t *testing.T) {
	p := mustCompile(t, "user.id == $sellerId && data.title == 'lamp' && data.price > oldData.price", writeCfg)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				in := baseInput()
				id := fmt.Sprintf("u%d", g)
				in.UserID = id
				caps := []string{id, "x"}
				if i%2 == 1 {
					caps = []string{"other", "x"}
				}
				ok, err := p.Eval(in, caps)
				if err != nil || ok != (i%2 == 0) {
					t.Errorf("goroutine %d, run %d: %v, %v", g, i, ok, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestFromJSON(t *testing.T) {
	v, err := FromJSON([]byte(`{"a": [1, "x", true, null, {"b": false}], "a": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(v)
	if got != "map[a:[1 x true <nil> map[b:false]]]" {
		t.Fatalf("got %s", got)
	}
	if v, err := FromJSON(nil); v != nil || err != nil {
		t.Fatalf("empty: %v %v", v, err)
	}
	if _, err := FromJSON([]byte("[")); !errors.Is(err, ErrBadJSON) {
		t.Fatalf("bad: %v", err)
	}
}

type keepingReader struct{ names []string }

func (k *keepingReader) ReadRecord(name string) ([]byte, bool, error) {
	k.names = append(k.names, name)
	return []byte(`{"ok": true}`), true, nil
}

// TestReaderKeepsNames checks that a name computed from data stays intact
// in the reader's hands after the pooled parser is reused.
func TestReaderKeepsNames(t *testing.T) {
	p := mustCompile(t, "_(data.ref).ok", writeCfg)
	k := &keepingReader{}
	for i := 0; i < 20; i++ {
		in := baseInput()
		in.Reader = k
		in.Data = []byte(fmt.Sprintf(`{"ref": "rec/%02d"}`, i))
		if ok, err := p.Eval(in, testCaps); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	for i, n := range k.names {
		if want := fmt.Sprintf("rec/%02d", i); n != want {
			t.Fatalf("name %d changed to %q", i, n)
		}
	}
}
