package jsonpath_test

import (
	"fmt"

	"github.com/eddy-realtime/eddy/codec/jsonpath"
)

func ExampleSet() {
	doc := []byte(`{"name":"ship","position":{"x":1,"y":2}}`)
	var buf []byte
	buf, _ = jsonpath.Set(buf[:0], doc, "position.x", []byte(`5`))
	fmt.Println(string(buf))
	doc = append([]byte(nil), buf...)
	buf, _ = jsonpath.Set(buf[:0], doc, "crew[2]", []byte(`"ana"`))
	fmt.Println(string(buf))
	// Output:
	// {"name":"ship","position":{"x":5,"y":2}}
	// {"name":"ship","position":{"x":5,"y":2},"crew":[null,null,"ana"]}
}

func ExampleGet() {
	doc := []byte(`{"tags":["a","b","c"],"owner":{"id":7}}`)
	v, ok, _ := jsonpath.Get(doc, "tags[1]")
	fmt.Println(string(v), ok)
	_, ok, _ = jsonpath.Get(doc, "owner.name")
	fmt.Println(ok)
	// Output:
	// "b" true
	// false
}

func ExampleErase() {
	doc := []byte(`{"tags":["a","b","c"],"owner":{"id":7}}`)
	out, _ := jsonpath.Erase(nil, doc, "tags[0]")
	fmt.Println(string(out))
	// Output: {"tags":["b","c"],"owner":{"id":7}}
}

func ExampleEqual() {
	fmt.Println(jsonpath.Equal([]byte(`{"x":1,"y":[true]}`), []byte(`{ "y": [true], "x": 1.0 }`)))
	// Output: true
}

// A subscriber to "position" learns of a change by comparing the value at
// its path before and after a patch.
func ExamplePath_HasPrefix() {
	sub := jsonpath.MustParse("position")
	change := jsonpath.MustParse("position.x")
	fmt.Println(change.HasPrefix(sub) || sub.HasPrefix(change))

	before := []byte(`{"position":{"x":1,"y":2}}`)
	after, _ := change.Set(nil, before, []byte(`1.0`))
	old, _, _ := sub.Get(before)
	cur, _, _ := sub.Get(after)
	fmt.Println("changed:", !jsonpath.Equal(old, cur))
	// Output:
	// true
	// changed: false
}
