// Package jsonpath reads and edits JSON record documents by path. The record
// table uses it to apply patches and Valve rules use it to read fields of
// `data`; the Go SDK uses it to apply patches it receives and to tell which
// path subscriptions a change touched.
//
// # Paths
//
// "" is the whole document. Otherwise a path is a dot-separated list of
// object keys, each optionally followed by array indexes: "position.x",
// "tags[2]", "a.b[0].c", "matrix[1][2]", or "[0]" for an element of a root
// array. A key is any non-empty UTF-8 text without '.', '[' or ']', taken
// literally (no trimming, no escapes). An index is a decimal integer from 0
// to MaxIndex without sign or leading zeros. Parse gives the grammar; a
// syntax error wraps ErrSyntax and names the byte offset.
//
// # Semantics
//
// They follow deepstream's record paths, with these choices made explicit:
//
//   - Get of a path that leads nowhere reports ok == false. A key only
//     reaches into an object and an index only into an array; a step of the
//     wrong kind leads nowhere (an index on an object does not read the key
//     "0").
//   - Set creates what is missing on the way: an object for a key step, an
//     array for an index step. An index past the end pads the array with
//     null. A step of the wrong kind replaces what is there: a key on a
//     number, string, array or null replaces it with an object holding just
//     that key, and an index on a non-array replaces it with a new array.
//     Set at "" replaces the whole document.
//   - Erase removes an object member, or an array element (the later
//     elements shift down). Erasing a path that leads nowhere changes
//     nothing and is not an error. Erase at "" fails with ErrRoot.
//   - An object that repeats a key means its last member, as JavaScript's
//     JSON.parse reads it: Get returns the last, Set writes every member
//     with the key and Erase removes them all, so the result reads the same
//     under either rule.
//
// # Input, output and lifetimes
//
// Documents and values are checked strictly: RFC 8259 syntax, valid UTF-8
// in strings, at most MaxDepth levels of nesting. Invalid documents fail
// with errors wrapping ErrJSON, invalid Set values with ErrValue. No input
// makes the package panic or recurse without bound.
//
// Set and Erase append the new document to a caller-supplied dst in compact
// form (no insignificant whitespace; strings keep their original escapes)
// and never modify doc or value. dst must not share memory with them
// beyond its length (ErrOverlap). Get returns a slice of doc (capacity
// capped at its end), valid for as long as doc is and not to be modified.
// Nothing returned refers to pooled memory, so there is no "valid until the
// next call" rule to follow.
//
// The package scans JSON bytes itself instead of building fastjson trees:
// one pass checks the document, follows the path and writes the result, so
// Set and Erase cost O(len(doc)) and allocate nothing when dst has room.
// fastjson is unsuitable here because Object.Set re-quotes every key of
// the object it edits with Go quoting (a key escaped as \u0001 comes out as
// the invalid JSON \x01, and unpaired surrogate escapes are corrupted), its
// Parser accepts invalid numbers such as 1.2.3, and its Validate recurses
// without a depth limit, so deeply nested input overflows the stack and
// kills the process.
//
// # Concurrency
//
// Every function and every Path method is safe for concurrent use. Paths
// are immutable values. Equal borrows scratch space from a sync.Pool and
// returns it before it returns.
//
// # Invariants
//
//  1. Set and Erase either return an error and dst unchanged in length, or
//     append one compact, valid JSON document (Valid accepts it).
//  2. After Set(dst, doc, p, v) succeeds, Get(result, p) reports ok and a
//     value Equal to v.
//  3. After Erase(dst, doc, p) succeeds, Get(result, p) reports !ok unless
//     p ends in an index and later elements shifted into its place.
//  4. Parse(p.String()) == p for every Path p, and Parse accepts only
//     canonical text, so p.String() is exactly the text parsed.
//  5. Valid, Get, Set and Erase allocate nothing on success when dst has
//     room; Equal allocates nothing once its pooled scratch has grown.
//  6. Each byte of doc is scanned once per call; stack use is bounded by
//     MaxDepth whatever the input.
package jsonpath
