package expr

import (
	"fmt"

	"github.com/valyala/fastjson"
)

var parsers fastjson.ParserPool

// FromJSON decodes JSON into the values expressions navigate: map[string]any
// for objects, []any for arrays, float64, string, bool and nil. Empty input
// gives nil. Nothing in the result aliases b. When an object repeats a key,
// the first value wins, as it does for data.key in an expression.
func FromJSON(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	return fromValue(v), nil
}

// fromValue converts a parsed value, copying every string. fastjson bounds
// nesting depth, which bounds the recursion.
func fromValue(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeObject:
		o := v.GetObject()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, v *fastjson.Value) {
			if _, dup := m[string(k)]; !dup {
				m[string(k)] = fromValue(v)
			}
		})
		return m
	case fastjson.TypeArray:
		items := v.GetArray()
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = fromValue(it)
		}
		return out
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNumber:
		return v.GetFloat64()
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	}
	return nil
}
