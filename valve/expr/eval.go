package expr

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/valyala/fastjson"
)

// Reader reads other records for _(name). valve.RecordReader has the same
// method set.
type Reader interface {
	ReadRecord(name string) (data []byte, found bool, err error)
}

// DefaultMaxReads is the number of _(name) reads one Eval allows when
// Input.MaxReads is zero.
const DefaultMaxReads = 8

var (
	// ErrTooManyReads: an expression called _(name) more often than allowed.
	ErrTooManyReads = errors.New("valve: too many record reads in one check")
	// ErrNoReader: an expression called _(name) but no Reader was given.
	ErrNoReader = errors.New("valve: record reads are not available here")
	// ErrNotBool: an expression gave something other than a boolean.
	ErrNotBool = errors.New("valve: rule did not give a boolean")
	// ErrBadJSON: data, oldData, user data or a record is not valid JSON.
	ErrBadJSON = errors.New("valve: invalid JSON")
)

// Input is everything one evaluation may read. Strings and byte slices are
// only read during Eval and never kept.
type Input struct {
	UserID        string
	Authenticated bool
	// UserData is the user's server data already decoded (FromJSON); nil
	// when the user has none. UserDataErr is the decoding error, reported
	// only if the expression reads user.data.
	UserData    any
	UserDataErr error
	Name        string
	Action      string
	Now         int64  // ms since the epoch
	Data        []byte // JSON of the new value; nil means null
	OldData     []byte // JSON of the stored value; nil means null
	Reader      Reader // for _(name); may be nil
	MaxReads    int    // 0 means DefaultMaxReads
}

// EvalError is a failure while running an expression.
type EvalError struct {
	Msg string
	Err error // the underlying error, when there is one
}

func (e *EvalError) Error() string { return e.Msg }
func (e *EvalError) Unwrap() error { return e.Err }

// Eval runs the program against in; caps holds the values of the pattern's
// variables, in order. (caps is a parameter of its own rather than a field of
// Input so that a caller's capture array can stay on its stack.) Eval
// returns an error, never panics, when the expression fails at run time: a
// type mismatch, bad JSON, a failed or excess record read, or a result that
// is not a boolean.
func (p *Program) Eval(in *Input, caps []string) (bool, error) {
	if p.constant {
		return p.value, nil
	}
	e := envPool.Get().(*env)
	ok, err := e.run(p, in, caps)
	e.reset(p)
	envPool.Put(e)
	return ok, err
}

var envPool = sync.Pool{New: func() any { return newEnv() }}

// env is the pooled evaluation state: the slots the bytecode reads, the
// storage behind the in-place boxes, a VM, and parsers for data and oldData.
type env struct {
	slots [numSlots]any
	value any // *runtimeEnv over slots, passed to the VM

	strs  [slotPath0]string // backing store of string slots, by slot number
	auth  bool
	now   int
	pstrs [MaxPaths]string // string values of path slots
	pnums [MaxPaths]float64
	sbox  [MaxPaths]any // boxes over pstrs
	nbox  [MaxPaths]any // boxes over pnums

	vm      vm.VM
	data    fastjson.Parser
	oldData fastjson.Parser
	ctx     evalCtx
}

func newEnv() *env {
	e := &env{}
	e.value = reflect.NewAt(runtimeEnv, unsafe.Pointer(&e.slots)).Interface()
	for i := range e.strs {
		if i == slotUID || i == slotName || i == slotAction || i >= slotCap0 {
			e.slots[i] = boxAt(&e.strs[i])
		}
	}
	e.slots[slotAuth] = boxAt(&e.auth)
	e.slots[slotNow] = boxAt(&e.now)
	e.slots[slotCtx] = &e.ctx
	for i := range e.pstrs {
		e.sbox[i] = boxAt(&e.pstrs[i])
		e.nbox[i] = boxAt(&e.pnums[i])
	}
	return e
}

func (e *env) run(p *Program, in *Input, caps []string) (bool, error) {
	e.strs[slotUID] = in.UserID
	e.strs[slotName] = in.Name
	e.strs[slotAction] = in.Action
	e.auth = in.Authenticated
	e.now = int(in.Now)
	copy(e.strs[slotCap0:], caps)
	if p.uses.Records {
		e.ctx.reader = in.Reader
		e.ctx.max = in.MaxReads
		if e.ctx.max <= 0 {
			e.ctx.max = DefaultMaxReads
		}
	}
	if err := e.resolvePaths(p, in); err != nil {
		return false, err
	}
	out, err := e.vm.Run(p.prog, e.value)
	if err != nil {
		return false, evalError(err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, &EvalError{Msg: fmt.Sprintf("rule gave %s, not a boolean", describe(out)), Err: ErrNotBool}
	}
	return b, nil
}

// reset drops every reference the run left behind.
func (e *env) reset(p *Program) {
	clear(e.strs[:])
	for i := range p.paths {
		e.slots[slotPath0+i] = nil
		e.pstrs[i] = ""
	}
	clear(e.vm.Stack)
	e.vm.Stack = e.vm.Stack[:0]
	clear(e.vm.Variables)
	if p.uses.Records {
		e.ctx.reset()
	}
}

func evalError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &EvalError{Msg: fe.Message, Err: fe.Prev}
	}
	return &EvalError{Msg: err.Error(), Err: err}
}

func describe(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}

// resolvePaths fills the path slots. data and oldData are parsed at most
// once each, and only when a path needs them.
func (e *env) resolvePaths(p *Program, in *Input) error {
	var data, old *fastjson.Value
	var dataDone, oldDone bool
	for i := range p.paths {
		pt := &p.paths[i]
		var v any
		switch pt.root {
		case rootUserData:
			if err := in.UserDataErr; err != nil {
				detail := strings.TrimPrefix(err.Error(), ErrBadJSON.Error()+": ")
				return &EvalError{Msg: "user data is not valid JSON: " + detail, Err: err}
			}
			v = walk(in.UserData, pt.elems)
		case rootData, rootOldData:
			var doc *fastjson.Value
			if pt.root == rootData {
				if !dataDone {
					var err error
					if data, err = parse(&e.data, in.Data, "data"); err != nil {
						return err
					}
					dataDone = true
				}
				doc = data
			} else {
				if !oldDone {
					var err error
					if old, err = parse(&e.oldData, in.OldData, "oldData"); err != nil {
						return err
					}
					oldDone = true
				}
				doc = old
			}
			if doc != nil {
				v = e.scalar(i, doc.Get(pt.keys...))
			}
		}
		e.slots[slotPath0+i] = v
	}
	return nil
}

func parse(p *fastjson.Parser, b []byte, what string) (*fastjson.Value, error) {
	if len(b) == 0 {
		return nil, nil
	}
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, &EvalError{Msg: what + " is not valid JSON: " + err.Error(), Err: ErrBadJSON}
	}
	return v, nil
}

// scalar converts a JSON value for path slot i. Numbers and strings are
// stored in the slot's in-place boxes: a string aliases the parser's buffer,
// which stays untouched until the env is reset. Objects and arrays are
// converted (and copied) in full.
func (e *env) scalar(i int, v *fastjson.Value) any {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		e.pnums[i] = v.GetFloat64()
		return e.nbox[i]
	case fastjson.TypeString:
		b := v.GetStringBytes()
		e.pstrs[i] = unsafe.String(unsafe.SliceData(b), len(b))
		return e.sbox[i]
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	case fastjson.TypeNull:
		return nil
	}
	return fromValue(v)
}

// walk follows a constant path through decoded JSON; anything missing gives
// nil.
func walk(v any, elems []elem) any {
	for _, el := range elems {
		switch x := v.(type) {
		case map[string]any:
			v = x[el.key]
		case []any:
			if el.index < 0 || el.index >= len(x) {
				return nil
			}
			v = x[el.index]
		default:
			return nil
		}
	}
	return v
}

// evalCtx is the per-Eval state _(name) needs. It lives in the pooled env.
type evalCtx struct {
	reader Reader
	max    int
	reads  int
	parser fastjson.Parser
	names  []string // memo of records read in this Eval
	values []any
}

func (c *evalCtx) reset() {
	c.reader = nil
	c.reads = 0
	clear(c.names)
	clear(c.values)
	c.names = c.names[:0]
	c.values = c.values[:0]
}

// readRecord implements _(name); the resolver rewrites _(x) to
// $read($ctx, x).
func readRecord(params ...any) (any, error) {
	c, ok := params[0].(*evalCtx)
	if !ok || len(params) != 2 {
		return nil, errors.New("valve: bad call of _")
	}
	name, ok := params[1].(string)
	if !ok {
		return nil, fmt.Errorf("_ needs a record name string, got %s", describe(params[1]))
	}
	for i, n := range c.names {
		if n == name {
			return c.values[i], nil
		}
	}
	if c.reader == nil {
		return nil, ErrNoReader
	}
	if c.reads >= c.max {
		return nil, fmt.Errorf("%w (at most %d, reading %q)", ErrTooManyReads, c.max, name)
	}
	c.reads++
	// The name may alias a pooled parser buffer (_(data.ref)); the reader
	// gets its own copy, as it may keep it.
	name = strings.Clone(name)
	b, found, err := c.reader.ReadRecord(name)
	if err != nil {
		return nil, fmt.Errorf("valve: reading record %q: %w", name, err)
	}
	var v any
	if found && len(b) > 0 {
		doc, err := c.parser.ParseBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%w in record %q: %v", ErrBadJSON, name, err)
		}
		v = fromValue(doc)
	}
	c.names = append(c.names, name)
	c.values = append(c.values, v)
	return v, nil
}
