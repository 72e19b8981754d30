package syntax

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a position in a rules file. Line and Col count from 1; Col counts
// characters (runes), as YAML does.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// Error is one problem found in a rules file.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	return "valve: " + e.File + ":" + e.Pos.String() + ": " + e.Msg
}

// ErrorList holds every problem found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the individual *Error values.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Err returns nil for an empty list, the single *Error for a list of one and
// the list itself otherwise.
func (l ErrorList) Err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}

// maxErrors bounds how many problems one Parse reports.
const maxErrors = 20

// File is a parsed rules file.
type File struct {
	Name   string
	Topics []*Topic // in file order; each topic at most once
}

// Topic is one top-level section: record, event, rpc or presence.
type Topic struct {
	Name  string
	Pos   Pos
	Rules []*Rule // in file order; each pattern at most once
}

// Rule is one pattern and the actions it defines.
type Rule struct {
	Pattern Pattern
	Pos     Pos // position of the pattern key
	Actions []*Action
}

// Action is one action of a rule and its value.
type Action struct {
	Name  string
	Pos   Pos // position of the action key
	Value Value
}

// Value is a rule value: a constant or an expression.
type Value struct {
	// IsExpr tells which of Bool and Expr holds the value.
	IsExpr bool
	Bool   bool
	Expr   string
	// Pos is where the value starts in the file (the quote, the block
	// indicator or the first character).
	Pos Pos

	// start is the file position of the expression's first character and
	// block tells whether later expression lines keep their column (block
	// scalars) or were folded into the first line (flow scalars).
	start Pos
	block bool
}

// ExprPos maps a position inside Expr (line and column from 1) to a position
// in the file. It is exact for single-line scalars without escapes and for
// literal block scalars; inside other multi-line scalars it is the best
// guess the folded text allows.
func (v *Value) ExprPos(line, col int) Pos {
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	if line == 1 {
		return Pos{v.start.Line, v.start.Col + col - 1}
	}
	if v.block {
		return Pos{v.start.Line + line - 1, v.start.Col + col - 1}
	}
	return v.start
}

// ActionSpec describes one action of a topic.
type ActionSpec struct {
	Name string
	// Data: the request carries a new value (`data` in expressions).
	Data bool
	// OldData: the request carries the stored value (`oldData`).
	OldData bool
}

// TopicSpec describes one topic and its actions.
type TopicSpec struct {
	Name    string
	Actions []ActionSpec
}

// Vocabulary lists the topics and actions of the language, in the order the
// documentation gives them. Index positions are stable: valve uses them as
// table indexes.
var Vocabulary = [...]TopicSpec{
	{Name: "record", Actions: []ActionSpec{
		{Name: "read"},
		{Name: "write", Data: true, OldData: true},
		{Name: "create", Data: true},
		{Name: "delete", OldData: true},
		{Name: "listen"},
	}},
	{Name: "event", Actions: []ActionSpec{
		{Name: "publish", Data: true},
		{Name: "subscribe"},
		{Name: "listen"},
	}},
	{Name: "rpc", Actions: []ActionSpec{
		{Name: "provide"},
		{Name: "request", Data: true},
	}},
	{Name: "presence", Actions: []ActionSpec{
		{Name: "allow"},
	}},
}

// MaxActions is the largest number of actions any topic has.
const MaxActions = 5

// TopicIndex returns the index of topic in Vocabulary, or -1.
func TopicIndex(topic string) int {
	switch topic {
	case "record":
		return 0
	case "event":
		return 1
	case "rpc":
		return 2
	case "presence":
		return 3
	}
	return -1
}

// ActionIndex returns the index of action within Vocabulary[topic].Actions,
// or -1. It does not allocate.
func ActionIndex(topic int, action string) int {
	if topic < 0 || topic >= len(Vocabulary) {
		return -1
	}
	for i := range Vocabulary[topic].Actions {
		if Vocabulary[topic].Actions[i].Name == action {
			return i
		}
	}
	return -1
}

func topicNames() string {
	names := make([]string, len(Vocabulary))
	for i, t := range Vocabulary {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

func actionNames(topic int) string {
	acts := Vocabulary[topic].Actions
	names := make([]string, len(acts))
	for i, a := range acts {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

// Parse reads a rules file. filename is used in error messages only. When
// the YAML itself is well formed but parts of it are wrong, Parse returns
// the error together with a File holding every part that was right, so a
// caller can go on looking for problems of its own; only the error decides
// whether the file is usable.
func Parse(src []byte, filename string) (*File, error) {
	p := &parser{file: filename, src: src}
	f := &File{Name: filename}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, p.yamlError(err)
	}
	if doc.Kind == 0 {
		return f, nil // empty document: no rules, everything is denied
	}
	root := doc.Content[0]
	root, ok := p.deref(root)
	if ok && root.Kind != yaml.MappingNode {
		if root.ShortTag() == "!!null" {
			return f, nil
		}
		p.errorf(root, "the file must be a mapping from topic to rules, not %s", kindName(root))
		ok = false
	}
	if ok {
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(root.Content); i += 2 {
			if p.full() {
				break
			}
			key, val := root.Content[i], root.Content[i+1]
			name, ok := p.key(key)
			if !ok {
				continue
			}
			ti := TopicIndex(name)
			if ti < 0 {
				p.errorf(key, "unknown topic %q (want %s)", name, topicNames())
				continue
			}
			if first, dup := seen[name]; dup {
				p.errorf(key, "topic %q defined twice (first at %d:%d)", name, first.Line, first.Column)
				continue
			}
			seen[name] = key
			t := &Topic{Name: name, Pos: pos(key)}
			p.topic(t, ti, val)
			f.Topics = append(f.Topics, t)
		}
	}
	return f, p.errs.Err()
}

type parser struct {
	file string
	src  []byte
	errs ErrorList
}

func (p *parser) full() bool { return len(p.errs) >= maxErrors }

func (p *parser) errorAt(at Pos, format string, args ...any) {
	if p.full() {
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Pos: at, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errorAt(pos(n), format, args...)
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// deref follows aliases. Aliases cannot form cycles in yaml.v3, but the
// chain is bounded anyway.
func (p *parser) deref(n *yaml.Node) (*yaml.Node, bool) {
	for i := 0; n.Kind == yaml.AliasNode; i++ {
		if n.Alias == nil || i == 16 {
			p.errorf(n, "unresolvable alias")
			return n, false
		}
		n = n.Alias
	}
	return n, true
}

func (p *parser) key(n *yaml.Node) (string, bool) {
	n, ok := p.deref(n)
	if !ok {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "a key must be a plain string, not %s", kindName(n))
		return "", false
	}
	if n.ShortTag() == "!!merge" {
		p.errorf(n, "merge keys (<<) are not supported")
		return "", false
	}
	return n.Value, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		case "!!bool":
			return "a boolean"
		}
		return "a scalar (" + n.ShortTag() + ")"
	}
	return "an alias"
}

func (p *parser) topic(t *Topic, ti int, n *yaml.Node) {
	n, ok := p.deref(n)
	if !ok {
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "record:" with nothing under it: no rules
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "topic %s must map patterns to actions, not %s", t.Name, kindName(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content) && !p.full(); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		text, ok := p.key(key)
		if !ok {
			continue
		}
		if first, dup := seen[text]; dup {
			p.errorf(key, "pattern %q defined twice in %s (first at %d:%d)", text, t.Name, first.Line, first.Column)
			continue
		}
		seen[text] = key
		pat, err := ParsePattern(text)
		if err != nil {
			p.errorf(key, "pattern %q: %s", text, err.Msg)
			continue
		}
		r := &Rule{Pattern: pat, Pos: pos(key)}
		p.rule(r, t.Name, ti, val)
		t.Rules = append(t.Rules, r)
	}
}

func (p *parser) rule(r *Rule, topic string, ti int, n *yaml.Node) {
	n, ok := p.deref(n)
	if !ok {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s %q must map actions to rules, not %s", topic, r.Pattern.Text, kindName(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content) && !p.full(); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		name, ok := p.key(key)
		if !ok {
			continue
		}
		if ActionIndex(ti, name) < 0 {
			p.errorf(key, "unknown action %q for topic %s (want %s)", name, topic, actionNames(ti))
			continue
		}
		if first, dup := seen[name]; dup {
			p.errorf(key, "action %q defined twice (first at %d:%d)", name, first.Line, first.Column)
			continue
		}
		seen[name] = key
		a := &Action{Name: name, Pos: pos(key)}
		if p.value(&a.Value, val) {
			r.Actions = append(r.Actions, a)
		}
	}
}

func (p *parser) value(v *Value, n *yaml.Node) bool {
	n, ok := p.deref(n)
	if !ok {
		return false
	}
	v.Pos = pos(n)
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "a rule must be true, false or an expression string, not %s", kindName(n))
		return false
	}
	switch n.ShortTag() {
	case "!!bool":
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			p.errorf(n, "a rule must be true, false or an expression string, not %q", n.Value)
			return false
		}
		v.Bool = b
		return true
	case "!!str":
	default:
		p.errorf(n, "a rule must be true, false or an expression string, not %s", kindName(n))
		return false
	}
	if strings.TrimSpace(n.Value) == "" {
		p.errorf(n, "empty expression")
		return false
	}
	v.IsExpr = true
	v.Expr = n.Value
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		v.start = Pos{n.Line, n.Column + 1}
	case yaml.LiteralStyle, yaml.FoldedStyle:
		v.start = p.blockStart(n)
		v.block = true
	default:
		v.start = v.Pos
	}
	return true
}

// blockStart finds the first content character of a block scalar whose
// indicator sits at n's position: the first non-blank line after it.
func (p *parser) blockStart(n *yaml.Node) Pos {
	lines := strings.Split(string(p.src), "\n")
	for l := n.Line; l < len(lines); l++ { // lines[l] is file line l+1
		text := strings.TrimRight(lines[l], "\r")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" {
			continue
		}
		return Pos{l + 1, len(text) - len(trimmed) + 1}
	}
	return Pos{n.Line + 1, n.Column}
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into an *Error.
// YAML reports at most a line, and often the line where the enclosing block
// began rather than the one at fault, so the line is found again: it is the
// last line before which the file still parses. The column given is that of
// the line's first non-blank character.
func (p *parser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil && n > 0 {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // a TypeError lists more lines; the first is enough
	}
	lines := strings.Split(string(p.src), "\n")
	line = badLine(lines, line)
	col := 1
	if line <= len(lines) {
		text := lines[line-1]
		col = len(text) - len(strings.TrimLeft(text, " ")) + 1
		if strings.TrimSpace(text) == "" {
			col = 1
		}
	}
	return &Error{File: p.file, Pos: Pos{line, col}, Msg: "bad YAML: " + msg}
}

// maxProbeLines bounds the search badLine does.
const maxProbeLines = 400

// badLine returns the last line k such that lines 1..k-1 parse as YAML,
// or def when the file is too long to search.
func badLine(lines []string, def int) int {
	if len(lines) > maxProbeLines {
		return def
	}
	var n yaml.Node
	for k := len(lines); k > 1; k-- {
		if yaml.Unmarshal([]byte(strings.Join(lines[:k-1], "\n")), &n) == nil {
			return k
		}
	}
	return 1
}
