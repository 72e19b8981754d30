package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Parameters of the argon2id hashes HashPassword makes: 19 MiB of memory,
// two passes, one lane, a 16-byte salt and a 32-byte key (the OWASP
// recommendation for argon2id).
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on the parameters of hashes read from a users file, so a bad entry
// cannot make each login take gigabytes or minutes.
const (
	maxArgonMemory = 1 << 20 // KiB (1 GiB)
	maxArgonTime   = 1000
	minArgonKey    = 16
	maxArgonKey    = 128
	minArgonSalt   = 8
)

// HashPassword hashes password with argon2id and a random salt, in the PHC
// string format: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, salt and hash
// in unpadded standard base64. The file strategy accepts the result.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("auth: empty password")
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// passwordHash is a parsed stored hash.
type passwordHash interface {
	// verify reports whether password matches, in time independent of where
	// the first difference lies.
	verify(password []byte) bool
}

// parsePasswordHash parses a stored argon2id (PHC) or bcrypt hash. Anything
// else, plain text included, is an error.
func parsePasswordHash(s string) (passwordHash, error) {
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return nil, fmt.Errorf("bad bcrypt hash: %v", err)
		}
		return bcryptHash(s), nil
	case strings.HasPrefix(s, "$argon2i$"), strings.HasPrefix(s, "$argon2d$"):
		return nil, errors.New("only argon2id hashes are supported, not argon2i or argon2d")
	case s == "":
		return nil, errors.New("no password hash")
	}
	return nil, errors.New("password is not an argon2id or bcrypt hash (plain-text passwords are refused; make a hash with `eddy hash`)")
}

type bcryptHash []byte

func (h bcryptHash) verify(password []byte) bool {
	// CompareHashAndPassword compares in constant time.
	return bcrypt.CompareHashAndPassword(h, password) == nil
}

type argon2Hash struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (h *argon2Hash) verify(password []byte) bool {
	key := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parseArgon2id(s string) (*argon2Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return nil, errors.New("bad argon2id hash: want $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("bad argon2id hash: version %q is not supported (want v=%d)", parts[2], argon2.Version)
	}
	h := &argon2Hash{}
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("bad argon2id hash: parameter %q", kv)
		}
		switch k {
		case "m":
			h.memory, seen[0] = uint32(n), true
		case "t":
			h.time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("bad argon2id hash: p=%d exceeds 255", n)
			}
			h.threads, seen[2] = uint8(n), true
		default:
			return nil, fmt.Errorf("bad argon2id hash: unknown parameter %q", k)
		}
	}
	switch {
	case !seen[0] || !seen[1] || !seen[2]:
		return nil, errors.New("bad argon2id hash: m, t and p are required")
	case h.threads == 0 || h.time == 0 || h.time > maxArgonTime:
		return nil, fmt.Errorf("bad argon2id hash: t=%d p=%d out of range", h.time, h.threads)
	case h.memory < 8*uint32(h.threads) || h.memory > maxArgonMemory:
		return nil, fmt.Errorf("bad argon2id hash: m=%d out of range", h.memory)
	}
	var err error
	if h.salt, err = decodeB64(parts[4]); err != nil || len(h.salt) < minArgonSalt {
		return nil, errors.New("bad argon2id hash: salt is not base64 of at least 8 bytes")
	}
	if h.key, err = decodeB64(parts[5]); err != nil || len(h.key) < minArgonKey || len(h.key) > maxArgonKey {
		return nil, errors.New("bad argon2id hash: hash is not base64 of 16 to 128 bytes")
	}
	return h, nil
}

// decodeB64 decodes standard base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}
