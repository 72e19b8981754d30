package auth

import (
	"context"
	"fmt"
)

// noneStrategy accepts everyone. The user id is the "username" string of the
// auth data; without one the user is anonymous. It never answers
// ErrUnknownUser, only refuses auth data that is not JSON, not an object, or
// whose username is not a string.
type noneStrategy struct{}

func (noneStrategy) Name() string { return "none" }

func (noneStrategy) Authenticate(_ context.Context, req *Request) (Result, error) {
	if isBlank(req.Data) {
		return Result{}, nil
	}
	p := parsers.Get()
	defer parsers.Put(p)
	o, err := authObject(p, req.Data)
	if err != nil {
		return Result{}, fmt.Errorf("auth: none: %v: %w", err, ErrInvalidCredentials)
	}
	name, _, err := stringField(o, "username")
	if err != nil {
		return Result{}, fmt.Errorf("auth: none: %v: %w", err, ErrInvalidCredentials)
	}
	return Result{ID: string(name)}, nil
}
