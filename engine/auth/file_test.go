package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-realtime/eddy/engine/internal/testlog"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// cheapArgon2id makes an argon2id PHC hash with small parameters, so tests
// that check many logins stay fast. HashPassword's own parameters are tested
// separately.
func cheapArgon2id(t testing.TB, password string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
}

func bcryptHashOf(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id PHC with the documented parameters", h)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	ph, err := parsePasswordHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if !ph.verify([]byte("correct horse")) || ph.verify([]byte("correct horsf")) || ph.verify(nil) {
		t.Fatal("verify disagrees with the password")
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("empty password hashed")
	}
}

func TestParsePasswordHash(t *testing.T) {
	good := cheapArgon2id(t, "pw")
	for _, s := range []string{good, bcryptHashOf(t, "pw"), strings.Replace(bcryptHashOf(t, "pw"), "$2a$", "$2b$", 1)} {
		h, err := parsePasswordHash(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if !h.verify([]byte("pw")) || h.verify([]byte("pW")) {
			t.Fatalf("%q: verify wrong", s)
		}
	}
	parts := strings.Split(good, "$")
	for _, tc := range []struct{ hash, want string }{
		{"", "no password hash"},
		{"hunter2", "plain-text passwords are refused"},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "only argon2id"},
		{"$argon2id$v=16$" + strings.Join(parts[3:], "$"), "version"},
		{"$argon2id$v=19$m=64,t=1$" + strings.Join(parts[4:], "$"), "m, t and p are required"},
		{"$argon2id$v=19$m=64,t=1,p=1,x=2$" + strings.Join(parts[4:], "$"), "unknown parameter"},
		{"$argon2id$v=19$m=64,t=0,p=1$" + strings.Join(parts[4:], "$"), "out of range"},
		{"$argon2id$v=19$m=4,t=1,p=1$" + strings.Join(parts[4:], "$"), "out of range"},
		{"$argon2id$v=19$m=99999999,t=1,p=1$" + strings.Join(parts[4:], "$"), "out of range"},
		{"$argon2id$v=19$m=64,t=1,p=300$" + strings.Join(parts[4:], "$"), "exceeds 255"},
		{"$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5], "salt"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$c2hvcnQ", "hash is not base64"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + parts[4], "want $argon2id"},
		{"$2b$04$tooshort", "bad bcrypt hash"},
	} {
		_, err := parsePasswordHash(tc.hash)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.hash, err, tc.want)
		}
	}
}

// writeUsers writes a users file and sets its modification time, so that a
// rewrite within the file system's time granularity is still seen.
func writeUsers(t testing.TB, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func usersYAML(t *testing.T) string {
	return fmt.Sprintf(`users:
  ann:
    password: %q
    serverData: {role: admin, teams: [a, b], 7: seven}
    clientData: {name: Ann}
  bob:
    password: %q
`, cheapArgon2id(t, "ann-pw"), bcryptHashOf(t, "bob-pw"))
}

func TestFileStrategy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yml")
	writeUsers(t, path, usersYAML(t), time.Now())
	s, err := newFileStrategy(FileConfig{Path: path}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	res, err := login(t, s, `{"username":"ann","password":"ann-pw"}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "ann" || !res.ExpiresAt.IsZero() {
		t.Fatalf("got %+v", res)
	}
	var sd map[string]any
	if err := json.Unmarshal(res.ServerData, &sd); err != nil {
		t.Fatal(err)
	}
	if sd["role"] != "admin" || sd["7"] != "seven" || len(sd["teams"].([]any)) != 2 {
		t.Fatalf("serverData %s", res.ServerData)
	}
	if string(res.ClientData) != `{"name":"Ann"}` {
		t.Fatalf("clientData %s", res.ClientData)
	}

	res, err = login(t, s, `{"username":"bob","password":"bob-pw"}`)
	if err != nil || res.ID != "bob" || res.ServerData != nil || res.ClientData != nil {
		t.Fatalf("bcrypt user: %+v %v", res, err)
	}

	for data, want := range map[string]error{
		`{"username":"ann","password":"bob-pw"}`: ErrInvalidCredentials,
		`{"username":"bob","password":"Bob-pw"}`: ErrInvalidCredentials,
		`{"username":"ann"}`:                     ErrInvalidCredentials,
		`{"username":"ann","password":7}`:        ErrInvalidCredentials,
		`{"username":"carl","password":"x"}`:     ErrUnknownUser,
		`{"username":"Ann","password":"ann-pw"}`: ErrUnknownUser,
		`{"token":"abc"}`:                        ErrUnknownUser,
		``:                                       ErrUnknownUser,
		`{"username":["ann"]}`:                   ErrInvalidCredentials,
		`not json`:                               ErrInvalidCredentials,
	} {
		_, err := login(t, s, data)
		wantErr(t, err, want)
		if strings.Contains(err.Error(), "pw") {
			t.Fatalf("error %q shows the password", err)
		}
	}
}

func TestFileLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"plain text":    "users:\n  ann:\n    password: hunter2\n",
		"empty":         "",
		"no users key":  "people: {}\n",
		"unknown field": fmt.Sprintf("users:\n  ann:\n    password: %q\n    role: admin\n", cheapArgon2id(t, "x")),
		"not yaml":      "users: [\n",
		"empty name":    fmt.Sprintf("users:\n  \"\":\n    password: %q\n", cheapArgon2id(t, "x")),
		"nan data":      fmt.Sprintf("users:\n  ann:\n    password: %q\n    serverData: {x: .nan}\n", cheapArgon2id(t, "x")),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		writeUsers(t, path, content, time.Now())
		if _, err := New(Config{Strategies: []StrategyConfig{{Type: "file", File: FileConfig{Path: path}}}}); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := New(Config{Strategies: []StrategyConfig{{Type: "file", File: FileConfig{Path: filepath.Join(dir, "missing")}}}}); err == nil {
		t.Error("missing file loaded")
	}
	path := filepath.Join(dir, "none.yml")
	writeUsers(t, path, "users: {}\n", time.Now())
	if _, err := New(Config{Strategies: []StrategyConfig{{Type: "file", File: FileConfig{Path: path}}}}); err != nil {
		t.Errorf("explicitly empty users: %v", err)
	}
}

func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yml")
	t0 := time.Now().Add(-time.Hour)
	writeUsers(t, path, fmt.Sprintf("users:\n  ann:\n    password: %q\n", cheapArgon2id(t, "one")), t0)
	var logs testlog.Buffer
	s, err := newFileStrategy(FileConfig{Path: path, ReloadInterval: time.Minute}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	s.now = func() time.Time { return clock }
	s.nextCheck.Store(clock.Add(time.Minute).UnixNano())
	tick := func() { clock = clock.Add(time.Minute) }

	// A changed password: not seen before the interval, seen after it.
	writeUsers(t, path, fmt.Sprintf("users:\n  ann:\n    password: %q\n", cheapArgon2id(t, "two")), t0.Add(time.Second))
	if _, err := login(t, s, `{"username":"ann","password":"one"}`); err != nil {
		t.Fatalf("reloaded before the interval: %v", err)
	}
	tick()
	_, err = login(t, s, `{"username":"ann","password":"one"}`)
	wantErr(t, err, ErrInvalidCredentials)
	if _, err := login(t, s, `{"username":"ann","password":"two"}`); err != nil {
		t.Fatalf("new password refused: %v", err)
	}
	if !strings.Contains(logs.String(), "users file reloaded") {
		t.Fatalf("reload not logged: %s", logs.String())
	}

	// A broken file keeps the old users and is logged once.
	writeUsers(t, path, "users:\n  ann:\n    password: plaintext\n", t0.Add(2*time.Second))
	for range 3 {
		tick()
		if _, err := login(t, s, `{"username":"ann","password":"two"}`); err != nil {
			t.Fatalf("broken file dropped the users: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "not reloaded"); n != 1 {
		t.Fatalf("broken file logged %d times, want 1:\n%s", n, logs.String())
	}

	// A removed file too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	tick()
	if _, err := login(t, s, `{"username":"ann","password":"two"}`); err != nil {
		t.Fatalf("removed file dropped the users: %v", err)
	}
	if n := strings.Count(logs.String(), "not reloaded"); n != 2 {
		t.Fatalf("removed file not logged:\n%s", logs.String())
	}

	// Fixed again: a new user appears.
	writeUsers(t, path, fmt.Sprintf("users:\n  cy:\n    password: %q\n", bcryptHashOf(t, "three")), t0.Add(3*time.Second))
	tick()
	if res, err := login(t, s, `{"username":"cy","password":"three"}`); err != nil || res.ID != "cy" {
		t.Fatalf("fixed file not loaded: %+v %v", res, err)
	}
	_, err = login(t, s, `{"username":"ann","password":"two"}`)
	wantErr(t, err, ErrUnknownUser)
}

func TestFileReloadDisabled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yml")
	writeUsers(t, path, fmt.Sprintf("users:\n  ann:\n    password: %q\n", cheapArgon2id(t, "one")), time.Now().Add(-time.Hour))
	s, err := newFileStrategy(FileConfig{Path: path, ReloadInterval: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	writeUsers(t, path, "users: {}\n", time.Now())
	if _, err := login(t, s, `{"username":"ann","password":"one"}`); err != nil {
		t.Fatalf("reloaded although disabled: %v", err)
	}
}

// Logins waiting for a hashing slot give up when their context ends.
func TestFileHashingSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yml")
	writeUsers(t, path, fmt.Sprintf("users:\n  ann:\n    password: %q\n", cheapArgon2id(t, "pw")), time.Now())
	s, err := newFileStrategy(FileConfig{Path: path}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for range cap(s.slots) {
		s.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = s.Authenticate(ctx, &Request{Data: []byte(`{"username":"ann","password":"pw"}`)})
	wantErr(t, err, ErrUnavailable)
	for range cap(s.slots) {
		<-s.slots
	}
	if _, err := login(t, s, `{"username":"ann","password":"pw"}`); err != nil {
		t.Fatal(err)
	}
}

// The chain must not let a wrong password for a file user fall through to a
// more permissive strategy, while unknown users do fall through.
func TestChainFileThenNone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yml")
	writeUsers(t, path, usersYAML(t), time.Now())
	c, err := New(Config{Strategies: []StrategyConfig{
		{Type: "file", File: FileConfig{Path: path}},
		{Type: "none"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.Authenticate(ctx, &Request{Data: []byte(`{"username":"ann","password":"wrong"}`)})
	wantErr(t, err, ErrInvalidCredentials)
	_, err = c.Authenticate(ctx, &Request{Data: []byte(`{"username":"ann"}`)})
	wantErr(t, err, ErrInvalidCredentials)

	res, err := c.Authenticate(ctx, &Request{Data: []byte(`{"username":"ann","password":"ann-pw"}`)})
	if err != nil || res.ID != "ann" || res.ServerData == nil {
		t.Fatalf("file user: %+v %v", res, err)
	}
	res, err = c.Authenticate(ctx, &Request{Data: []byte(`{"username":"guest","password":"whatever"}`)})
	if err != nil || res.ID != "guest" || res.ServerData != nil {
		t.Fatalf("unknown user did not fall through to none: %+v %v", res, err)
	}
	res, err = c.Authenticate(ctx, &Request{})
	if err != nil || res.ID != "" {
		t.Fatalf("anonymous: %+v %v", res, err)
	}
}

// Logins run concurrently with reloads; run with -race.
func TestFileConcurrentReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yml")
	hash := cheapArgon2id(t, "pw")
	write := func(i int) {
		writeUsers(t, path, fmt.Sprintf("users:\n  ann:\n    password: %q\n  u%d:\n    password: %q\n", hash, i, hash),
			time.Unix(1_000_000+int64(i), 0))
	}
	write(0)
	c, err := New(Config{Strategies: []StrategyConfig{
		{Type: "file", File: FileConfig{Path: path, ReloadInterval: time.Nanosecond}},
		{Type: "none"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				res, err := c.Authenticate(context.Background(), &Request{Data: []byte(`{"username":"ann","password":"pw"}`)})
				if err != nil || res.ID != "ann" {
					errs <- fmt.Errorf("login during reload: %+v %v", res, err)
					return
				}
			}
		}()
	}
	for i := 1; i <= 10; i++ {
		write(i)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The last version is loaded by the next login.
	time.Sleep(time.Millisecond)
	res, err := c.Authenticate(context.Background(), &Request{Data: []byte(`{"username":"u10","password":"pw"}`)})
	if err != nil || res.ID != "u10" || res.ServerData != nil {
		t.Fatalf("last reload not seen: %+v %v", res, err)
	}
}
