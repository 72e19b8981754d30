package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"gopkg.in/yaml.v3"
)

// fileStrategy checks usernames and passwords against a users file.
//
// The loaded users are an immutable userSet behind an atomic pointer: logins
// read it without locks. A login that finds the reload interval passed takes
// reloadMu (TryLock: at most one login checks at a time, the others go on with
// the current set), stats the file and, if its modification time or size
// changed, loads it and swaps the set. A file that fails to load leaves the
// current set in place and is logged once per distinct error.
type fileStrategy struct {
	path     string
	interval time.Duration // <0: never reload
	log      *slog.Logger
	now      func() time.Time

	users     atomic.Pointer[userSet]
	nextCheck atomic.Int64 // unix nanoseconds

	reloadMu sync.Mutex
	lastErr  string // under reloadMu: last reload error logged

	// slots bounds concurrent hash verifications (argon2id is memory-hard).
	slots chan struct{}
}

type userSet struct {
	users   map[string]*fileUser
	modTime time.Time
	size    int64
}

type fileUser struct {
	hash       passwordHash
	clientData json.RawMessage
	serverData json.RawMessage
}

// dummySalt is used to hash the password of an unknown user, so that a login
// for an unknown name costs about what one for a known name costs.
var dummySalt = []byte("eddy-unknown-user-salt")

func newFileStrategy(cfg FileConfig, log *slog.Logger) (*fileStrategy, error) {
	s := &fileStrategy{
		path:     cfg.Path,
		interval: cfg.ReloadInterval,
		log:      log,
		now:      time.Now,
		slots:    make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	if s.interval == 0 {
		s.interval = DefaultReloadInterval
	}
	set, err := loadUsersFile(s.path)
	if err != nil {
		return nil, err
	}
	s.users.Store(set)
	s.nextCheck.Store(s.now().Add(s.interval).UnixNano())
	return s, nil
}

func (s *fileStrategy) Name() string { return "file" }

func (s *fileStrategy) Authenticate(ctx context.Context, req *Request) (Result, error) {
	s.maybeReload()
	// Copy username and password out of the pooled parser before the slow
	// part, so the parser goes back to the pool at once.
	var name string
	var password []byte
	var hasPassword bool
	{
		p := parsers.Get()
		o, err := authObject(p, req.Data)
		if err != nil {
			parsers.Put(p)
			return Result{}, fmt.Errorf("auth: file: %v: %w", err, ErrInvalidCredentials)
		}
		n, ok, err := stringField(o, "username")
		if !ok {
			parsers.Put(p)
			return Result{}, fmt.Errorf("auth: file: no username: %w", ErrUnknownUser)
		}
		if err != nil {
			parsers.Put(p)
			return Result{}, fmt.Errorf("auth: file: %v: %w", err, ErrInvalidCredentials)
		}
		pw, hasPw, pwErr := stringField(o, "password")
		name = string(n)
		if pwErr == nil && hasPw {
			password, hasPassword = bytes.Clone(pw), true
		}
		parsers.Put(p)
	}
	u := s.users.Load().users[name]
	if u == nil {
		if hasPassword {
			// Spend the time a known user's check would take, so that the
			// answer's timing does not tell which names exist.
			if err := s.acquire(ctx); err != nil {
				return Result{}, err
			}
			argon2.IDKey(password, dummySalt, argonTime, argonMemory, argonThreads, argonKeyLen)
			s.release()
		}
		return Result{}, fmt.Errorf("auth: file: user %q: %w", name, ErrUnknownUser)
	}
	if !hasPassword {
		return Result{}, fmt.Errorf("auth: file: user %q: no password string: %w", name, ErrInvalidCredentials)
	}
	if err := s.acquire(ctx); err != nil {
		return Result{}, err
	}
	ok := u.hash.verify(password)
	s.release()
	if !ok {
		return Result{}, fmt.Errorf("auth: file: user %q: wrong password: %w", name, ErrInvalidCredentials)
	}
	return Result{ID: name, ClientData: u.clientData, ServerData: u.serverData}, nil
}

// acquire waits for a hashing slot or for ctx to end.
func (s *fileStrategy) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("auth: file: waiting to check a password: %w: %w", ErrUnavailable, ctx.Err())
	}
}

func (s *fileStrategy) release() { <-s.slots }

// maybeReload reloads the users file if the interval has passed and the file
// changed. See the type's comment.
func (s *fileStrategy) maybeReload() {
	if s.interval < 0 {
		return
	}
	now := s.now()
	if now.UnixNano() < s.nextCheck.Load() || !s.reloadMu.TryLock() {
		return
	}
	defer s.reloadMu.Unlock()
	if now.UnixNano() < s.nextCheck.Load() {
		return // another login just checked
	}
	s.nextCheck.Store(now.Add(s.interval).UnixNano())
	s.reloadLocked()
}

// reloadLocked stats the file and loads it when it changed. reloadMu is held.
func (s *fileStrategy) reloadLocked() {
	cur := s.users.Load()
	fi, err := os.Stat(s.path)
	if err != nil {
		s.reportLocked(err)
		return
	}
	if fi.ModTime().Equal(cur.modTime) && fi.Size() == cur.size {
		return
	}
	set, err := loadUsersFile(s.path)
	if err != nil {
		s.reportLocked(err)
		return
	}
	s.users.Store(set)
	s.lastErr = ""
	s.log.Info("auth: users file reloaded", "path", s.path, "users", len(set.users))
}

// reportLocked logs a reload error unless it is the one logged last.
func (s *fileStrategy) reportLocked(err error) {
	if msg := err.Error(); msg != s.lastErr {
		s.lastErr = msg
		s.log.Error("auth: users file not reloaded; keeping the previous users", "path", s.path, "err", err)
	}
}

// usersFile is the YAML layout of a users file.
type usersFile struct {
	Users map[string]struct {
		Password   string `yaml:"password"`
		ServerData any    `yaml:"serverData"`
		ClientData any    `yaml:"clientData"`
	} `yaml:"users"`
}

// loadUsersFile reads and checks a users file. The file's modification time
// and size are taken before reading, so a change made during the read is
// seen by the next check.
func loadUsersFile(path string) (*userSet, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	users, err := parseUsers(raw)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return &userSet{users: users, modTime: fi.ModTime(), size: fi.Size()}, nil
}

// parseUsers parses the contents of a users file. Unknown keys, a missing
// users key, empty names and anything but argon2id or bcrypt hashes are
// errors.
func parseUsers(raw []byte) (map[string]*fileUser, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var doc usersFile
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file (write `users: {}` for no users)")
		}
		return nil, err
	}
	if doc.Users == nil {
		return nil, errors.New("no users key (write `users: {}` for no users)")
	}
	names := make([]string, 0, len(doc.Users))
	for name := range doc.Users {
		names = append(names, name)
	}
	sort.Strings(names) // report errors in a stable order
	users := make(map[string]*fileUser, len(doc.Users))
	for _, name := range names {
		e := doc.Users[name]
		if name == "" {
			return nil, errors.New("a user has an empty name")
		}
		h, err := parsePasswordHash(e.Password)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		u := &fileUser{hash: h}
		if u.serverData, err = yamlToJSON(e.ServerData); err != nil {
			return nil, fmt.Errorf("user %q: serverData: %w", name, err)
		}
		if u.clientData, err = yamlToJSON(e.ClientData); err != nil {
			return nil, fmt.Errorf("user %q: clientData: %w", name, err)
		}
		users[name] = u
	}
	return users, nil
}

// yamlToJSON turns a decoded YAML value into JSON; nil stays nil.
func yamlToJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	v, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonable converts maps with non-string keys (which YAML allows and JSON
// does not) into string-keyed maps, and rejects values JSON cannot hold.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			switch k.(type) {
			case string, int, int64, uint64, float64, bool:
			default:
				return nil, fmt.Errorf("map key %v cannot be a JSON key", k)
			}
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = c
		}
		return m, nil
	case []any:
		for i, e := range x {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("%v is not a JSON number", x)
		}
	}
	return v, nil
}
