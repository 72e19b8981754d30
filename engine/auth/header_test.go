package auth

import (
	"context"
	"net/http"
	"testing"
)

func TestHeaderStrategy(t *testing.T) {
	s, err := newHeaderStrategy(HeaderConfig{
		TrustedProxies:   []string{"10.1.0.0/16", "127.0.0.1", "fd00::/8"},
		ServerDataHeader: "x-user-data",
		ClientDataHeader: "X-User-Profile",
	})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("X-Forwarded-User", "ann")
	h.Set("X-User-Data", `{"role":"admin"}`)
	h.Set("X-User-Profile", `{"name":"Ann"}`)

	for _, addr := range []string{"10.1.2.3:4000", "127.0.0.1:1", "[::ffff:10.1.0.9]:80", "[fd00::1%eth0]:443", "10.1.200.1"} {
		res, err := s.Authenticate(context.Background(), &Request{RemoteAddr: addr, Header: h, Data: []byte(`{"username":"eve"}`)})
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if res.ID != "ann" || string(res.ServerData) != `{"role":"admin"}` || string(res.ClientData) != `{"name":"Ann"}` {
			t.Fatalf("%s: got %+v", addr, res)
		}
	}
	for _, addr := range []string{"10.2.0.1:4000", "127.0.0.2:1", "[::1]:80", "192.168.1.1:5", "", "garbage", "[fe80::1]:1"} {
		_, err := s.Authenticate(context.Background(), &Request{RemoteAddr: addr, Header: h})
		wantErr(t, err, ErrUnknownUser)
	}

	// Raw TCP: no headers.
	_, err = s.Authenticate(context.Background(), &Request{RemoteAddr: "10.1.2.3:4000"})
	wantErr(t, err, ErrUnknownUser)

	// Trusted proxy that did not authenticate: unknown, so the chain goes on.
	_, err = s.Authenticate(context.Background(), &Request{RemoteAddr: "10.1.2.3:4000", Header: http.Header{"Cookie": {"a=b"}}})
	wantErr(t, err, ErrUnknownUser)

	// Two user headers (an appending proxy passing the client's own) refuse.
	two := h.Clone()
	two.Add("X-Forwarded-User", "root")
	_, err = s.Authenticate(context.Background(), &Request{RemoteAddr: "10.1.2.3:4000", Header: two})
	wantErr(t, err, ErrInvalidCredentials)

	bad := h.Clone()
	bad.Set("X-User-Data", "{not json")
	_, err = s.Authenticate(context.Background(), &Request{RemoteAddr: "10.1.2.3:4000", Header: bad})
	wantErr(t, err, ErrInvalidCredentials)

	// Data headers are optional.
	only := http.Header{"X-Forwarded-User": {"bo"}}
	res, err := s.Authenticate(context.Background(), &Request{RemoteAddr: "10.1.2.3:4000", Header: only})
	if err != nil || res.ID != "bo" || res.ServerData != nil || res.ClientData != nil {
		t.Fatalf("got %+v %v", res, err)
	}
}

func TestHeaderThenNoneChain(t *testing.T) {
	c, err := New(Config{Strategies: []StrategyConfig{
		{Type: "header", Header: HeaderConfig{TrustedProxies: []string{"127.0.0.0/8"}, UserHeader: "x-user"}},
		{Type: "none"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-User": {"ann"}}
	res, err := c.Authenticate(context.Background(), &Request{RemoteAddr: "127.0.0.1:9", Header: h})
	if err != nil || res.ID != "ann" {
		t.Fatalf("trusted: %+v %v", res, err)
	}
	// An untrusted peer forging the header gets no further than none.
	res, err = c.Authenticate(context.Background(), &Request{RemoteAddr: "203.0.113.7:9", Header: h})
	if err != nil || res.ID != "" {
		t.Fatalf("untrusted: %+v %v", res, err)
	}
}
