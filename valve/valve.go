package valve

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	vexpr "github.com/eddy-realtime/eddy/valve/expr"
	"github.com/eddy-realtime/eddy/valve/syntax"
)

// User is the connection's authenticated identity.
type User struct {
	ID            string
	Authenticated bool
	// Data is the user's server data as JSON (what the authenticator
	// returned), or nil. Rules see it as user.data. It is decoded once, on
	// the first Check that reads it; replace the slice to change it, never
	// edit it in place.
	Data []byte

	decoded atomic.Pointer[userData]
}

type userData struct {
	src []byte
	val any
	err error
}

// data returns Data decoded, decoding it at most once per Data slice.
func (u *User) data() (any, error) {
	if len(u.Data) == 0 {
		return nil, nil
	}
	if d := u.decoded.Load(); d != nil && len(d.src) == len(u.Data) && unsafe.SliceData(d.src) == unsafe.SliceData(u.Data) {
		return d.val, d.err
	}
	v, err := vexpr.FromJSON(u.Data)
	u.decoded.Store(&userData{src: u.Data, val: v, err: err})
	return v, err
}

// Request is one permission question.
type Request struct {
	Topic  string // record, event, rpc, presence
	Action string // see docs/valve.md for each topic's actions
	Name   string
	User   *User // nil means an anonymous, unauthenticated user
	// Data is the new value as JSON: for record write and create the whole
	// document as it will be after the write, for event publish the
	// payload, for rpc request the request data. Nil means null.
	Data []byte
	// OldData is the stored document as JSON for record write and delete.
	OldData []byte
	// Now is the time in ms since the epoch that `now` gives; zero means
	// the current time.
	Now int64
}

// RecordReader reads other records for rules that call _(name). It may
// block; Needs tells which checks will call it.
type RecordReader interface {
	ReadRecord(name string) (data []byte, found bool, err error)
}

// Decision is the answer to a Request.
type Decision struct {
	Allow bool
	// Reason says, for a denial, the topic, action and name and why. It is
	// empty when Allow is true.
	Reason string
}

// Needs says which inputs the rule deciding a request reads, so the caller
// can gather them (or move the check off its event loop) beforehand.
type Needs struct {
	Data    bool // the rule reads data
	OldData bool // the rule reads oldData: load the stored record first
	Records bool // the rule reads other records: the check may block
}

// Options tune how rules are compiled and checked. The zero value gives the
// defaults.
type Options struct {
	// MaxReads bounds the _(name) record reads one Check may make; beyond it
	// the check is denied with ErrTooManyReads. Zero means 8.
	MaxReads int
}

// Errors a denial can wrap (see Check's reasons).
var (
	ErrTooManyReads = vexpr.ErrTooManyReads
	ErrNoReader     = vexpr.ErrNoReader
	ErrBadJSON      = vexpr.ErrBadJSON
)

// Error is a problem in a rules file with its position; Parse returns one
// or a syntax.ErrorList of them.
type Error = syntax.Error

// maxErrors bounds the problems one load reports.
const maxErrors = 20

// Rules is a compiled permissions file. It is immutable and safe for
// concurrent use.
type Rules struct {
	file     string
	maxReads int
	// table[topic][action] lists the rules defining that action, best
	// first: longest pattern, then most literal bytes, then file order.
	table [len(syntax.Vocabulary)][syntax.MaxActions][]*rule
}

type rule struct {
	pattern string
	match   matcher
	ncap    int
	pos     syntax.Pos
	order   int
	literal int

	constant bool
	allow    bool // the constant value
	prog     *vexpr.Program
	needs    Needs
}

// Parse compiles a rules file with default Options. filename appears in
// error messages, which read "valve: file:line:col: problem".
func Parse(src []byte, filename string) (*Rules, error) {
	return ParseWith(src, filename, Options{})
}

// ParseWith compiles a rules file.
func ParseWith(src []byte, filename string, opts Options) (*Rules, error) {
	f, err := syntax.Parse(src, filename)
	if f == nil {
		return nil, err
	}
	var errs syntax.ErrorList
	var list syntax.ErrorList
	var one *syntax.Error
	switch {
	case errors.As(err, &list):
		errs = append(errs, list...)
	case errors.As(err, &one):
		errs = append(errs, one)
	}
	r := &Rules{file: filename, maxReads: opts.MaxReads}
	if r.maxReads <= 0 {
		r.maxReads = vexpr.DefaultMaxReads
	}
	order := 0
	for _, t := range f.Topics {
		ti := syntax.TopicIndex(t.Name)
		for _, sr := range t.Rules {
			for _, a := range sr.Actions {
				ai := syntax.ActionIndex(ti, a.Name)
				spec := syntax.Vocabulary[ti].Actions[ai]
				ru := &rule{
					pattern: sr.Pattern.Text,
					match:   newMatcher(sr.Pattern),
					ncap:    len(sr.Pattern.Captures),
					pos:     sr.Pos,
					order:   order,
					literal: sr.Pattern.Literals,
				}
				order++
				if !a.Value.IsExpr {
					ru.constant, ru.allow = true, a.Value.Bool
				} else {
					prog, err := vexpr.Compile(a.Value.Expr, vexpr.Config{
						Captures: sr.Pattern.Captures,
						Data:     spec.Data,
						OldData:  spec.OldData,
						Rule:     t.Name + " " + a.Name,
					})
					if err != nil {
						errs = append(errs, exprError(filename, &a.Value, err))
						continue
					}
					if isConst, v := prog.Constant(); isConst {
						ru.constant, ru.allow = true, v
					} else {
						ru.prog = prog
						u := prog.Uses()
						ru.needs = Needs{Data: u.Data, OldData: u.OldData, Records: u.Records}
					}
				}
				r.table[ti][ai] = append(r.table[ti][ai], ru)
			}
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool {
			a, b := errs[i].Pos, errs[j].Pos
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		if len(errs) > maxErrors {
			errs = errs[:maxErrors]
		}
		return nil, errs.Err()
	}
	for ti := range r.table {
		for ai := range r.table[ti] {
			list := r.table[ti][ai]
			sort.Slice(list, func(i, j int) bool { return better(list[i], list[j]) })
		}
	}
	return r, nil
}

// better orders rules by precedence: the longer pattern first; for equal
// lengths the one with more literal bytes; then the one earlier in the file.
func better(a, b *rule) bool {
	if len(a.pattern) != len(b.pattern) {
		return len(a.pattern) > len(b.pattern)
	}
	if a.literal != b.literal {
		return a.literal > b.literal
	}
	return a.order < b.order
}

func exprError(file string, v *syntax.Value, err error) *syntax.Error {
	var e *vexpr.Error
	if errors.As(err, &e) {
		return &syntax.Error{File: file, Pos: v.ExprPos(e.Line, e.Col), Msg: e.Msg}
	}
	return &syntax.Error{File: file, Pos: v.Pos, Msg: err.Error()}
}

// Load reads and compiles a rules file with default Options.
func Load(path string) (*Rules, error) { return LoadWith(path, Options{}) }

// LoadWith reads and compiles a rules file.
func LoadWith(path string, opts Options) (*Rules, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("valve: %w", err)
	}
	return ParseWith(src, path, opts)
}

//go:embed default.yaml
var defaultRules []byte

var defaultOnce = sync.OnceValue(func() *Rules {
	r, err := Parse(defaultRules, "default.yaml")
	if err != nil {
		panic(err) // the embedded file is tested; this cannot happen
	}
	return r
})

// Default returns the built-in rules, which allow everything. The same
// *Rules is returned on every call.
func Default() *Rules { return defaultOnce() }

// DefaultSource returns the text of the built-in rules file.
func DefaultSource() []byte { return append([]byte(nil), defaultRules...) }

// File returns the name the rules were loaded from.
func (r *Rules) File() string { return r.file }
