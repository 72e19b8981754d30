package eddy

import (
	"encoding/json"
	"regexp"
	"sync"
)

// MergeFunc resolves a version conflict on a record: local is the
// document this client holds (with its writes that may not have reached
// the server), remote the server's current document; the versions are
// theirs. The result (a JSON object or array) is written as the next
// version on the server and becomes the local document. Returning remote
// keeps the server's document and writes nothing; an error keeps it too,
// and the error (wrapped in an *Error matching ErrVersionConflict) goes to
// the error handler and to the SetWithAck callers whose writes conflicted.
//
// local and remote must not be modified; the function may return either of
// them. It runs on the client's callback goroutine.
type MergeFunc func(local, remote json.RawMessage, localVersion, remoteVersion int64) (json.RawMessage, error)

// MergeStrategy says how a record write that lost a version race is
// resolved: RemoteWins (the zero value and the default), LocalWins, or
// MergeWith(fn). Set it for the whole client with WithMergeStrategy, for
// one record name with Records.SetMergeStrategy or for names matching a
// pattern with Records.SetMergeStrategyPattern.
type MergeStrategy struct {
	local bool
	fn    MergeFunc
}

var (
	// RemoteWins takes the server's document and version; the local writes
	// that conflicted are dropped. The default.
	RemoteWins = MergeStrategy{}
	// LocalWins writes the local document over the server's, as the version
	// after the server's.
	LocalWins = MergeStrategy{local: true}
)

// MergeWith resolves conflicts with fn (see MergeFunc). A nil fn is
// RemoteWins.
func MergeWith(fn MergeFunc) MergeStrategy { return MergeStrategy{fn: fn} }

// WithMergeStrategy sets the client's default merge strategy for records
// (RemoteWins when not set). Per-name and per-pattern strategies set on
// Client.Record take precedence.
func WithMergeStrategy(s MergeStrategy) Option {
	return func(o *options) { o.recordMerge = s }
}

// MaxMergeAttempts bounds how many times in a row a record conflict is
// merged and written again when the merged write itself conflicts. Past it
// the server's document is kept and ErrVersionConflict goes to the error
// handler.
const MaxMergeAttempts = 16

// mergeRules holds the per-name and per-pattern strategies.
type mergeRules struct {
	mu       sync.RWMutex
	global   MergeStrategy
	byName   map[string]MergeStrategy
	patterns []patternRule
}

type patternRule struct {
	re *regexp.Regexp
	s  MergeStrategy
}

// SetMergeStrategy sets the strategy for the record called name, taking
// precedence over patterns and the client default.
func (rs *Records) SetMergeStrategy(name string, s MergeStrategy) {
	m := &rs.merge
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName == nil {
		m.byName = make(map[string]MergeStrategy)
	}
	m.byName[name] = s
}

// ClearMergeStrategy removes the strategy SetMergeStrategy set for name.
func (rs *Records) ClearMergeStrategy(name string) {
	m := &rs.merge
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byName, name)
}

// SetMergeStrategyPattern sets the strategy for records whose name matches
// re. Patterns are tried in the order they were set, after exact names and
// before the client default; setting the same pattern text again replaces
// its strategy.
func (rs *Records) SetMergeStrategyPattern(re *regexp.Regexp, s MergeStrategy) {
	m := &rs.merge
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.patterns {
		if m.patterns[i].re.String() == re.String() {
			m.patterns[i].s = s
			return
		}
	}
	m.patterns = append(m.patterns, patternRule{re: re, s: s})
}

// strategy returns the strategy for name.
func (m *mergeRules) strategy(name string) MergeStrategy {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if s, ok := m.byName[name]; ok {
		return s
	}
	for _, p := range m.patterns {
		if p.re.MatchString(name) {
			return p.s
		}
	}
	return m.global
}
