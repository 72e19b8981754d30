package pebble

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	pebbledb "github.com/cockroachdb/pebble"

	"github.com/eddy-realtime/eddy/store"
	"github.com/eddy-realtime/eddy/store/storetest"
)

func openT(t testing.TB, dir string, opts store.Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openT(t, t.TempDir(), store.Options{}) })
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(dir string) store.Store { return openT(t, dir, store.Options{}) })
}

func TestKeyLayout(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir, store.Options{})
	big := storetest.SampleJSON(4096, 1)
	db.Put("room/1", 7, []byte(`{"a":1}`), nil)
	db.Put("doc", 300, big, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	pdb, err := pebbledb.Open(dir, &pebbledb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	get := func(key string) []byte {
		t.Helper()
		v, c, err := pdb.Get([]byte(key))
		if err != nil {
			t.Fatalf("raw Get(%q): %v", key, err)
		}
		defer c.Close()
		return bytes.Clone(v)
	}
	if v := get("m/format"); string(v) != "1" {
		t.Fatalf("format marker = %q", v)
	}
	if v := get("r/room/1"); !bytes.Equal(v, append([]byte{7, encRaw}, `{"a":1}`...)) {
		t.Fatalf("small value stored as %q, want uvarint 7, raw flag, body", v)
	}
	v := get("r/doc")
	if v[0] != 0xac || v[1] != 0x02 || v[2] != encS2 || len(v) >= len(big)*7/8 {
		t.Fatalf("4 KiB value: header % x, %d of %d bytes; want uvarint 300, S2 flag, compressed", v[:3], len(v), len(big))
	}
}

func TestRefusesOtherFormat(t *testing.T) {
	dir := t.TempDir()
	pdb, err := pebbledb.Open(dir, &pebbledb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pdb.Set([]byte("m/format"), []byte("2"), pebbledb.Sync); err != nil {
		t.Fatal(err)
	}
	if err := pdb.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(dir, store.Options{}); err == nil {
		db.Close()
		t.Fatal("Open accepted a directory in data format 2")
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, store.Options{}); err == nil {
		t.Fatal("Open of a regular file succeeded")
	}
	dir := t.TempDir()
	db := openT(t, dir, store.Options{})
	defer db.Close()
	if db2, err := Open(dir, store.Options{}); err == nil {
		db2.Close()
		t.Fatal("a second Open of a directory in use succeeded")
	}
}

func TestCorruptValue(t *testing.T) {
	dir := t.TempDir()
	pdb, err := pebbledb.Open(dir, &pebbledb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]string{"r/badflag": "\x01\x09x", "r/badvarint": "\xff", "r/bads2": "\x01\x01\xff\xff\xff\xff\x0f"} {
		if err := pdb.Set([]byte(key), []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := pdb.Close(); err != nil {
		t.Fatal(err)
	}
	db := openT(t, dir, store.Options{})
	defer db.Close()
	for _, name := range []string{"badflag", "badvarint", "bads2"} {
		if _, err := db.Get(name); !errors.Is(err, errCorrupt) {
			t.Errorf("Get(%s) = %v, want a corrupt-value error", name, err)
		}
	}
	if err := db.Scan("", func(string, store.Record) bool { return true }); !errors.Is(err, errCorrupt) {
		t.Errorf("Scan over corrupt values = %v, want a corrupt-value error", err)
	}
}

func TestSuccessor(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"r/", "r0"}, {"r/a", "r/b"}, {"r/a\xff", "r/b"}, {"r/\xff\xff", "r0"}, {"\xff", ""},
	} {
		if got := successor([]byte(c.in)); string(got) != c.want {
			t.Errorf("successor(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
