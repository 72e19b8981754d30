package valve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eddy-realtime/eddy/valve/syntax"
)

func mustParse(t testing.TB, src string) *Rules {
	t.Helper()
	r, err := Parse([]byte(src), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDefaultAllowsEverything(t *testing.T) {
	r := Default()
	if r != Default() {
		t.Fatal("Default returns a new value each call")
	}
	for _, topic := range syntax.Vocabulary {
		for _, a := range topic.Actions {
			for _, name := range []string{"", "a", "a/b/c", "$x", "*"} {
				d := r.Check(&Request{Topic: topic.Name, Action: a.Name, Name: name, Data: []byte("{")}, nil)
				if !d.Allow {
					t.Errorf("%s %s %q denied: %s", topic.Name, a.Name, name, d.Reason)
				}
			}
		}
	}
	if !strings.Contains(string(DefaultSource()), `"*"`) {
		t.Fatal("DefaultSource is not the rules file")
	}
}

func TestLoad(t *testing.T) {
	r, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.File(), "example.yaml") {
		t.Fatalf("File: %s", r.File())
	}
	_, err = Load(filepath.Join("testdata", "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "valve: ") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestErrorsCarryPositions(t *testing.T) {
	_, err := Parse([]byte("record:\n  a: {read: \"data.x\"}\n  b: {reed: true}\n"), "f.yaml")
	var list syntax.ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("got %v", err)
	}
	var first *Error
	if !errors.As(err, &first) || first.Pos != (syntax.Pos{Line: 2, Col: 14}) || first.File != "f.yaml" {
		t.Fatalf("first error: %+v", first)
	}
	if list[1].Pos != (syntax.Pos{Line: 3, Col: 7}) {
		t.Fatalf("second error: %+v", list[1])
	}
}

// TestUserDataDecodedOnce checks that server data is decoded once per User
// and decoded again when the slice is replaced.
func TestUserDataDecodedOnce(t *testing.T) {
	u := &User{ID: "ann", Data: []byte(`{"level": 3}`)}
	v1, err := u.data()
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := u.data()
	if fmt.Sprintf("%p", v1) != fmt.Sprintf("%p", v2) {
		t.Fatal("decoded twice")
	}
	u.Data = []byte(`{"level": 4}`)
	v3, _ := u.data()
	if v3.(map[string]any)["level"] != 4.0 {
		t.Fatalf("stale user data: %v", v3)
	}
	r := mustParse(t, `record: {"a": {read: "user.data.level == 4"}}`)
	if d := r.Check(&Request{Topic: "record", Action: "read", Name: "a", User: u}, nil); !d.Allow {
		t.Fatal(d.Reason)
	}
}

func TestCheckOddRequests(t *testing.T) {
	r := mustParse(t, `record: {"*": {read: "user.id == '' && !user.isAuthenticated && user.data == nil", write: "data == nil && oldData == nil"}}`)
	for _, req := range []*Request{
		{Topic: "record", Action: "read", Name: "x"},
		{Topic: "record", Action: "read", Name: "", User: &User{}},
		{Topic: "record", Action: "write", Name: "x"},
	} {
		if d := r.Check(req, nil); !d.Allow {
			t.Errorf("%+v: %s", req, d.Reason)
		}
	}
	d := r.Check(&Request{Topic: "", Action: "", Name: "x\n\"y"}, nil)
	if d.Allow || d.Reason != `  "x\n\"y" denied: unknown topic` {
		t.Fatalf("got %+v", d)
	}
}

// TestCheckAllocs pins the zero-allocation promise for allowed requests
// decided by a constant or a simple expression.
func TestCheckAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	r := mustParse(t, `record:
  "*": { read: true }
  "profile/$userId": { write: "user.id == $userId" }
  "items/$id": { write: "data.price > oldData.price && data.title == 'lamp'" }
`)
	user := &User{ID: "ann", Authenticated: true}
	cases := map[string]*Request{
		"true":                 {Topic: "record", Action: "read", Name: "any/thing", User: user},
		"user.id == $userId":   {Topic: "record", Action: "write", Name: "profile/ann", User: user},
		"data.price > oldData": {Topic: "record", Action: "write", Name: "items/1", User: user, Data: []byte(`{"price": 2, "title": "lamp"}`), OldData: []byte(`{"price": 1}`)},
	}
	for what, req := range cases {
		if d := r.Check(req, nil); !d.Allow {
			t.Fatalf("%s: %s", what, d.Reason)
		}
		if n := testing.AllocsPerRun(200, func() { r.Check(req, nil) }); n != 0 {
			t.Errorf("%s: %v allocs per Check", what, n)
		}
	}
}

// TestConcurrentChecks runs checks from many goroutines over shared rules
// and users; -race checks the pooled environments and the user data cache.
func TestConcurrentChecks(t *testing.T) {
	r := mustParse(t, `record:
  "profile/$userId": { write: "user.id == $userId && user.data.level > 1 && data.v == $userId" }
`)
	users := []*User{
		{ID: "u0", Data: []byte(`{"level": 2}`)},
		{ID: "u1", Data: []byte(`{"level": 2}`)},
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				u := users[(g+i)%2]
				target := fmt.Sprintf("u%d", i%2)
				req := &Request{Topic: "record", Action: "write", Name: "profile/" + target, User: u,
					Data: []byte(`{"v": "` + target + `"}`)}
				d := r.Check(req, nil)
				if d.Allow != (u.ID == target) {
					t.Errorf("%s writes %s: %+v", u.ID, target, d)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestRule(t *testing.T) {
	r := mustParse(t, "record:\n  \"a/*\": { read: true }\n")
	p, pos, ok := r.Rule("record", "read", "a/b")
	if !ok || p != "a/*" || pos != (syntax.Pos{Line: 2, Col: 3}) {
		t.Fatalf("got %q %v %v", p, pos, ok)
	}
	if _, _, ok := r.Rule("record", "write", "a/b"); ok {
		t.Fatal("write has no rule")
	}
}
