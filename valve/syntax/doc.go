// Package syntax reads Valve permission files: YAML in, a rule tree with
// source positions out. It checks everything that can be checked without
// compiling expressions: the topics, the actions of each topic, the shape of
// every pattern and that every rule is true, false or an expression string.
// Expressions are kept as text together with the mapping from expression
// positions back to file positions, so the compiler (valve/expr) can report
// its errors at file:line:col.
//
// The vocabulary (which topics exist, which actions each topic has and which
// of them carry new or old data) lives here and nowhere else.
//
// Concurrency: Parse, ParsePattern and Format are pure functions, safe from
// any goroutine. A File is never modified after Parse returns it.
//
// Invariants:
//  1. Parse never panics, whatever the input (FuzzParse).
//  2. Every error Parse returns is an *Error or an ErrorList of them, each
//     naming file, line and column.
//  3. Parse(Format(f)) describes the same rules as f (FuzzParse).
//  4. A parsed Pattern is well formed: a $name capture fills a whole
//     /-separated segment, names are unique, and there are at most
//     MaxCaptures of them.
package syntax
