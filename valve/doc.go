// Package valve decides whether a user may do something to a named record,
// event, RPC or presence channel. Rules come from a YAML permissions file
// (see docs/valve.md): for each topic, patterns over names, and for each
// pattern the actions it allows, each as true, false or an expression.
//
// Parse and Load compile a file once: YAML structure and patterns are checked
// by valve/syntax, expressions by valve/expr, and every problem is reported
// as file:line:col. Check then answers one Request with a Decision. Among
// the patterns that match the name and define the action, the longest
// pattern wins (ties: more literal characters, then earlier in the file); no
// match means deny.
//
// Cost: a constant rule and a simple expression allocate nothing per Check.
// Patterns are matched without allocating, captures go to an array on the
// stack, expressions run on pooled environments (valve/expr). Rules that read
// other records (`_(name)`) call the RecordReader, which may block; Needs
// tells the server in advance, so it can run such checks off its event loop.
//
// Concurrency: a *Rules is immutable once built; Check and Needs are safe for
// concurrent use from any goroutine. A User may be shared by concurrent
// Checks but must not be modified once used (assign a new Data slice rather
// than editing it in place). A Watcher polls its file on its own goroutine,
// swaps the rules atomically and calls onError from that goroutine; Close
// stops the goroutine and waits for it.
//
// Invariants:
//  1. Check never panics: evaluation errors, bad JSON and reader failures
//     deny with a reason.
//  2. A denial's Reason names topic, action and name and says why.
//  3. A Watcher never replaces good rules with a file that fails to load.
//  4. valve imports nothing from engine.
package valve
