package auth_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/eddy-realtime/eddy/engine/auth"
	"gopkg.in/yaml.v3"
)

// A chain of a JWT strategy and a permissive fallback: clients without a
// token log in by name, a client with a bad token is refused.
func ExampleNew() {
	var cfg auth.Config
	err := yaml.Unmarshal([]byte(`
strategies:
  - type: jwt
    hmacSecret: "0123456789abcdef0123456789abcdef"
    issuer: https://id.example.com
  - type: none
`), &cfg)
	if err != nil {
		panic(err)
	}
	chain, err := auth.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	res, err := chain.Authenticate(ctx, &auth.Request{Data: []byte(`{"username":"guest"}`)})
	fmt.Printf("%q %v\n", res.ID, err)

	_, err = chain.Authenticate(ctx, &auth.Request{Data: []byte(`{"token":"not-a-jwt"}`)})
	fmt.Println(errors.Is(err, auth.ErrInvalidCredentials))
	// Output:
	// "guest" <nil>
	// true
}
