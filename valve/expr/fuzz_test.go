package expr

import (
	"errors"
	"testing"
)

// FuzzCompile compiles random expressions under the write and read configs
// and runs whatever compiles: neither step may panic, compile errors carry
// a position inside the expression, and Eval either decides or returns an
// error.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"user.id == $sellerId",
		"user.data.canBid && data.price > oldData.price",
		"_('settings/' + $sellerId).editable",
		"data?.a.b[0] ?? 1 > 0",
		"all(data.tags, # != 'c') && any(user.data.roles, {# == 'admin'})",
		"let p = data.price; p > 1 && map(data.tags, upper(#))[0] == 'A'",
		"filter(data.items, .price > 1) != nil",
		"data[$itemId] == oldData[name]",
		"len(keys(data)) > now % 5",
		"name matches '^a' || action startsWith 'w' || $itemId in ['a', 'b']",
		"_(_('x').y).z == 1",
		"data.a.b.c.d.e.f == nil",
		"user",
		"$env",
		"data.price()",
		"user.id.x",
		"-data.n > 1 and not (data.s endsWith 'x')",
	} {
		f.Add(s)
	}
	read := Config{Captures: []string{"userId"}, Rule: "record read"}
	f.Fuzz(func(t *testing.T, src string) {
		for _, cfg := range []Config{writeCfg, read} {
			p, err := Compile(src, cfg)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Line < 1 || e.Col < 1 {
					t.Fatalf("%q: error without position: %v", src, err)
				}
				continue
			}
			in := baseInput()
			ok, err := p.Eval(in, testCaps)
			if ok && err != nil {
				t.Fatalf("%q: allowed with error %v", src, err)
			}
		}
	})
}
