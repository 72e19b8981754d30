package expr

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	lang "github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Config tells Compile what the rule around the expression provides.
type Config struct {
	// Captures are the pattern's variable names, without '$', in order.
	Captures []string
	// Data and OldData tell whether the action carries a new value and a
	// stored value.
	Data, OldData bool
	// Rule names the topic and action for error messages ("record read").
	Rule string
}

// Uses says which inputs a program reads.
type Uses struct {
	Data     bool // data
	OldData  bool // oldData
	UserData bool // user.data
	Records  bool // _(name): cross-record reads
	Now      bool // now
}

// Program is a compiled expression. It is immutable and safe for concurrent
// use.
type Program struct {
	src   string
	prog  *vm.Program
	uses  Uses
	paths []path
	// constant is set when the expression folded to a constant.
	constant, value bool
}

// Uses reports which inputs the program reads.
func (p *Program) Uses() Uses { return p.uses }

// Constant reports whether the expression always gives the same result, and
// that result.
func (p *Program) Constant() (isConst, value bool) { return p.constant, p.value }

// Source returns the expression text.
func (p *Program) Source() string { return p.src }

// Error is a compile error. Line and Col (from 1, counting characters)
// locate it inside the expression.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	return "valve: expression " + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Msg
}

// root is what a path starts from.
type root uint8

const (
	rootData root = iota
	rootOldData
	rootUserData
)

var rootNames = [...]string{"data", "oldData", "user.data"}

// elem is one constant step of a path: an object key, or, when index >= 0,
// also an array index.
type elem struct {
	key   string
	index int
}

// path is a constant member chain resolved before the bytecode runs.
type path struct {
	root  root
	elems []elem
	keys  []string // elems' keys, for fastjson's Get
}

func (p *path) String() string {
	s := rootNames[p.root]
	for _, e := range p.elems {
		s += "\x00" + e.key
	}
	return s
}

// Compile compiles one rule expression.
func Compile(src string, cfg Config) (*Program, error) {
	r := &resolver{cfg: &cfg, src: src, provisional: map[*ast.IdentifierNode]*path{}, slots: map[string]int{}}
	prog, err := lang.Compile(src,
		lang.Env(compileEnv.Interface()),
		lang.Function(nameRead, readRecord),
		lang.Patch(letPass{r}),
		lang.Patch(resolvePass{r}),
		lang.Patch(finishPass{r}),
	)
	if r.err != nil {
		return nil, r.err
	}
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			line, col := position(src, fe.From)
			return nil, &Error{Line: line, Col: col, Msg: r.rename(fe.Message)}
		}
		return nil, &Error{Line: 1, Col: 1, Msg: r.rename(err.Error())}
	}
	node := prog.Node()
	if t := node.Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		line, col := position(src, node.Location().From)
		return nil, &Error{Line: line, Col: col, Msg: "a rule must give a boolean, this one gives " + t.String()}
	}
	p := &Program{src: src, prog: prog, uses: r.uses, paths: r.paths}
	if b, ok := node.(*ast.BoolNode); ok {
		p.constant, p.value = true, b.Value
	}
	return p, nil
}

// position turns a character offset in src into a line and column from 1.
func position(src string, offset int) (line, col int) {
	line, col = 1, 1
	n := 0
	for _, c := range src {
		if n == offset {
			break
		}
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		n++
	}
	return line, col
}

// resolver rewrites the names a rule author writes onto environment slots
// and records what the expression uses. It runs as two expr patch passes:
// resolvePass folds constant member chains into provisional path nodes,
// finishPass numbers the paths that survived and rejects names that are only
// valid in a particular shape (user, _).
type resolver struct {
	cfg         *Config
	src         string
	err         *Error
	uses        Uses
	provisional map[*ast.IdentifierNode]*path
	slots       map[string]int // path key -> index into paths
	paths       []path
	// renames maps slot names back to source names for error messages.
	renames []string
}

func (r *resolver) fail(n ast.Node, format string, args ...any) {
	if r.err != nil {
		return
	}
	line, col := position(r.src, n.Location().From)
	r.err = &Error{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// slotIdent replaces *node with an identifier naming a slot.
func (r *resolver) slotIdent(node *ast.Node, name, source string) *ast.IdentifierNode {
	id := &ast.IdentifierNode{Value: name}
	ast.Patch(node, id)
	r.renames = append(r.renames, name, source)
	return id
}

// rename puts source names back into a checker message.
func (r *resolver) rename(msg string) string {
	if len(r.renames) == 0 {
		return msg
	}
	// Longest names first, so $c1 does not replace the start of $c10.
	pairs := make([][2]string, 0, len(r.renames)/2)
	for i := 0; i+1 < len(r.renames); i += 2 {
		pairs = append(pairs, [2]string{r.renames[i], r.renames[i+1]})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i][0]) > len(pairs[j][0]) })
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	return strings.NewReplacer(args...).Replace(msg)
}

func (r *resolver) newPath(node *ast.Node, p *path) {
	id := &ast.IdentifierNode{Value: "$path"}
	ast.Patch(node, id)
	r.provisional[id] = p
}

// reserved names cannot be redefined with let.
func reserved(name string) bool {
	switch name {
	case "user", "data", "oldData", "name", "action", "now", "_":
		return true
	}
	return strings.HasPrefix(name, "$")
}

// constProp returns the constant key of a member access: a string, or a
// non-negative integer (which also indexes arrays).
func constProp(n ast.Node) (elem, bool) {
	switch p := n.(type) {
	case *ast.StringNode:
		return elem{key: p.Value, index: -1}, true
	case *ast.IntegerNode:
		if p.Value >= 0 {
			return elem{key: strconv.Itoa(p.Value), index: p.Value}, true
		}
	}
	return elem{}, false
}

type resolvePass struct{ *resolver }

func (r resolvePass) Visit(node *ast.Node) {
	if r.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		r.ident(node, n)
	case *ast.MemberNode:
		r.member(node, n)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "_" {
			if len(n.Arguments) != 1 {
				r.fail(n, "_ takes one argument, the record name")
				return
			}
			id.Value = nameRead
			ctx := &ast.IdentifierNode{Value: nameCtx}
			ctx.SetLocation(n.Location())
			n.Arguments = []ast.Node{ctx, n.Arguments[0]}
			r.uses.Records = true
		}
	}
}

// letPass runs first: it rejects let bindings that would shadow the names
// the other passes resolve.
type letPass struct{ *resolver }

func (r letPass) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.VariableDeclaratorNode); ok && reserved(n.Name) {
		r.fail(n, "cannot redefine %s with let", n.Name)
	}
}

func (r resolvePass) ident(node *ast.Node, n *ast.IdentifierNode) {
	if _, ok := r.provisional[n]; ok {
		return
	}
	switch v := n.Value; {
	case v == "data":
		if !r.cfg.Data {
			r.fail(n, "data is not available in %s rules", r.cfg.Rule)
		}
	case v == "oldData":
		if !r.cfg.OldData {
			r.fail(n, "oldData is not available in %s rules", r.cfg.Rule)
		}
	case v == "name":
		r.slotIdent(node, nameName, "name")
	case v == "action":
		r.slotIdent(node, nameAction, "action")
	case v == "now":
		r.slotIdent(node, nameNow, "now")
		r.uses.Now = true
	case strings.HasPrefix(v, "$"):
		for i, c := range r.cfg.Captures {
			if v[1:] == c {
				r.slotIdent(node, capName(i), v)
				return
			}
		}
		if len(r.cfg.Captures) == 0 {
			r.fail(n, "unknown variable %s: the pattern has no variables", v)
			return
		}
		r.fail(n, "unknown variable %s: the pattern has $%s", v, strings.Join(r.cfg.Captures, ", $"))
	}
}

func (r resolvePass) member(node *ast.Node, n *ast.MemberNode) {
	prop, constant := constProp(n.Property)
	if base, ok := n.Node.(*ast.IdentifierNode); ok {
		if p, ok := r.provisional[base]; ok {
			if constant {
				delete(r.provisional, base)
				elems := append(append([]elem(nil), p.elems...), prop)
				r.newPath(node, &path{root: p.root, elems: elems})
				return
			}
		} else {
			switch base.Value {
			case "user":
				if !constant || prop.index >= 0 {
					r.fail(n, "user has the fields id, isAuthenticated and data")
					return
				}
				switch prop.key {
				case "id":
					r.slotIdent(node, nameUID, "user.id")
				case "isAuthenticated":
					r.slotIdent(node, nameAuth, "user.isAuthenticated")
				case "data":
					r.newPath(node, &path{root: rootUserData})
				default:
					r.fail(n.Property, "user has no field %q (it has id, isAuthenticated and data)", prop.key)
				}
				return
			case "data", "oldData":
				rt := rootData
				if base.Value == "oldData" {
					rt = rootOldData
				}
				if constant {
					r.newPath(node, &path{root: rt, elems: []elem{prop}})
					return
				}
				r.provisional[base] = &path{root: rt}
			}
		}
	}
	// A member access left to the bytecode: make it nil-safe, so a missing
	// key anywhere along a chain gives nil rather than an error.
	if !n.Method {
		n.Optional = true
		ast.Patch(node, &ast.ChainNode{Node: n})
	}
}

type finishPass struct{ *resolver }

func (r finishPass) Visit(node *ast.Node) {
	if r.err != nil {
		return
	}
	n, ok := (*node).(*ast.IdentifierNode)
	if !ok {
		return
	}
	p, isPath := r.provisional[n]
	if !isPath {
		switch n.Value {
		case "user":
			r.fail(n, "use user.id, user.isAuthenticated or user.data")
			return
		case "_":
			r.fail(n, "_ must be called: _(recordName)")
			return
		case "data":
			p = &path{root: rootData}
		case "oldData":
			p = &path{root: rootOldData}
		default:
			return
		}
	}
	key := p.String()
	i, seen := r.slots[key]
	if !seen {
		if len(r.paths) == MaxPaths {
			r.fail(n, "more than %d distinct paths into data, oldData and user.data", MaxPaths)
			return
		}
		i = len(r.paths)
		r.slots[key] = i
		p.keys = make([]string, len(p.elems))
		for j, e := range p.elems {
			p.keys[j] = e.key
		}
		r.paths = append(r.paths, *p)
		switch p.root {
		case rootData:
			r.uses.Data = true
		case rootOldData:
			r.uses.OldData = true
		case rootUserData:
			r.uses.UserData = true
		}
	}
	delete(r.provisional, n)
	src := rootNames[p.root]
	for _, e := range p.elems {
		src += "." + e.key
	}
	r.slotIdent(node, pathName(i), src)
}
