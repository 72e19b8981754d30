package auth

import (
	"errors"

	"github.com/valyala/fastjson"
)

// parsers parses auth data without allocating once warm.
var parsers fastjson.ParserPool

// errNotObject is returned by authObject for JSON that is not an object.
var errNotObject = errors.New("auth data is not a JSON object")

// authObject parses auth data with p. It returns nil and no error for empty
// data and JSON null, the object for a JSON object, and an error for anything
// else. The object lives in p and is valid until p is reused.
func authObject(p *fastjson.Parser, data []byte) (*fastjson.Object, error) {
	if isBlank(data) {
		return nil, nil
	}
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, err
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, nil
	case fastjson.TypeObject:
		o, _ := v.Object()
		return o, nil
	}
	return nil, errNotObject
}

// stringField returns the string value of key in o. present is false when o
// is nil or lacks key (or key is null); err is set when the value is not a
// string. The bytes live in the parser that produced o.
func stringField(o *fastjson.Object, key string) (s []byte, present bool, err error) {
	if o == nil {
		return nil, false, nil
	}
	v := o.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, false, nil
	}
	s, err = v.StringBytes()
	if err != nil {
		return nil, true, errors.New("field " + key + " is not a string")
	}
	return s, true, nil
}

// isBlank reports whether data is empty or JSON whitespace only.
func isBlank(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}
