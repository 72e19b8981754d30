// Package expr compiles and evaluates Valve rule expressions. It builds on
// github.com/expr-lang/expr: an expression is parsed, rewritten onto a fixed
// set of environment slots, type-checked and compiled to bytecode once, when
// the rules file is loaded; Eval then runs the bytecode against one request.
//
// What an expression sees:
//
//	user.id, user.isAuthenticated, user.data   the connection's user
//	data, oldData                              new and stored value (JSON)
//	$name                                      pattern captures
//	name, action, now                          the request; now in ms
//	_(recordName)                              another record's value
//
// How Eval avoids allocating: the environment is a pooled struct of `any`
// slots. Slots that always hold a string, bool or int (user.id, name,
// captures, ...) hold interface values boxed once, in place, over fields of
// the pooled struct, so filling a slot is a plain field store (box.go).
// Member chains with constant keys on data, oldData and user.data
// (`data.price`, `user.data.roles[0]`) are resolved before the bytecode runs,
// straight from a pooled fastjson parser; only values that are objects or
// arrays are converted to Go maps and slices. Missing keys give nil.
//
// Concurrency: Compile and FromJSON are safe from any goroutine. A Program is
// immutable; Eval is safe for concurrent use. Eval calls the Reader given in
// its Input from the calling goroutine, at most MaxReads times.
//
// Invariants:
//  1. Eval never panics on any input bytes; runtime failures are errors.
//  2. An expression refers only to names the rule can supply: using data or
//     oldData where the action has none, an unknown $variable or an unknown
//     user field is a compile error.
//  3. No value boxed over pooled memory outlives the Eval that filled it:
//     every slot is reset before the environment returns to the pool.
package expr
