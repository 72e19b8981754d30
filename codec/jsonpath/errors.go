package jsonpath

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers map them with errors.Is: ErrSyntax to a path error,
// ErrJSON and ErrValue to a data error.
var (
	// ErrSyntax: the path does not follow the path grammar.
	ErrSyntax = errors.New("jsonpath: invalid path")
	// ErrJSON: the document is not valid JSON (or nests deeper than MaxDepth).
	ErrJSON = errors.New("jsonpath: invalid JSON")
	// ErrValue: the value given to Set is not valid JSON, or placing it at
	// the path would nest the document deeper than MaxDepth.
	ErrValue = errors.New("jsonpath: invalid value")
	// ErrTooLarge: SetMax's result would pass its size limit.
	ErrTooLarge = errors.New("jsonpath: result too large")
	// ErrRoot: Erase was asked to remove the whole document (path "").
	ErrRoot = errors.New("jsonpath: cannot erase the whole document")
	// ErrOverlap: the destination slice shares memory with an input, so
	// appending to it would overwrite bytes not yet read.
	ErrOverlap = errors.New("jsonpath: dst overlaps an input")
)

// Error describes bad input: its kind (ErrSyntax, ErrJSON or ErrValue), the
// byte offset into the path, document or value where it was detected, and
// why. It is only ever created on failure, so the success paths allocate
// nothing.
type Error struct {
	Kind   error
	Offset int
	Reason string
}

func (e *Error) Error() string {
	return e.Kind.Error() + ": " + e.Reason + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

func jsonErr(off int, reason string) error {
	return &Error{Kind: ErrJSON, Offset: off, Reason: reason}
}

func pathErr(off int, reason string) error {
	return &Error{Kind: ErrSyntax, Offset: off, Reason: reason}
}

// asValueErr turns a JSON error found while checking Set's value into an
// ErrValue error with the same offset and reason.
func asValueErr(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrJSON {
		return &Error{Kind: ErrValue, Offset: e.Offset, Reason: e.Reason}
	}
	return err
}
