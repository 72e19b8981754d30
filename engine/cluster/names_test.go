package cluster

import (
	"strings"
	"testing"
)

func TestEncodeName(t *testing.T) {
	for _, c := range []struct{ name, token string }{
		{"prices/eur", "prices/eur"},
		{"a.b", "a=2Eb"},
		{"*", "=2A"},
		{">", "=3E"},
		{"=", "=3D"},
		{"", "="},
		{"a b", "a=20b"},
		{"é", "=C3=A9"},
		{"\x00", "=00"},
	} {
		if got := EncodeName(c.name); got != c.token {
			t.Errorf("EncodeName(%q) = %q, want %q", c.name, got, c.token)
		}
		if got := string(AppendName([]byte("x."), c.name)); got != "x."+c.token {
			t.Errorf("AppendName(%q) = %q", c.name, got)
		}
		back, ok := DecodeName(c.token)
		if !ok || back != c.name {
			t.Errorf("DecodeName(%q) = %q, %v; want %q", c.token, back, ok, c.name)
		}
	}
	for _, bad := range []string{"", "a.b", "=4", "=41", "=zz", "a*", "=2"} {
		if _, ok := DecodeName(bad); ok {
			t.Errorf("DecodeName(%q) accepted", bad)
		}
	}
}

func FuzzName(f *testing.F) {
	for _, s := range []string{"", "a", "a.b.c", "*>", "é", "=3D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tok := EncodeName(name)
		if strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Fatalf("EncodeName(%q) = %q is not one subject token", name, tok)
		}
		back, ok := DecodeName(tok)
		if !ok || back != name {
			t.Fatalf("round trip %q -> %q -> %q, %v", name, tok, back, ok)
		}
		if n, ok := DecodeName(name); ok && EncodeName(n) != name {
			t.Fatalf("DecodeName(%q) = %q does not encode back", name, n)
		}
	})
}
