package syntax

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error carries a
// position, and that Format then Parse gives back the same rules.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("record:\n  a: |\n    user.id == 'x'\n"))
	f.Add([]byte("record:\n  a: &x {read: true}\n  b: *x\n"))
	f.Add([]byte("event: {'a/*/$b': {publish: \"data.x > 1\"}}"))
	f.Add([]byte("record:\n\ta: {}"))
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.yaml"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, "fuzz.yaml")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		out, err := Format(file)
		if err != nil {
			t.Fatalf("Format: %v", err)
		}
		again, err := Parse(out, "fuzz.yaml")
		if err != nil {
			t.Fatalf("reparse of formatted file: %v\n%s", err, out)
		}
		if !sameRules(file, again) {
			t.Fatalf("round trip changed the rules:\n%s", out)
		}
	})
}
