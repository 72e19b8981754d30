// Package auth decides who a client is when it logs in.
//
// A [Chain] holds an ordered list of [Strategy] values built from a [Config]
// by [New]. Each strategy looks at the client's auth data (JSON sent with
// Auth/Login), the peer address and, for WebSocket clients, the headers of the
// upgrade request, and answers in one of four ways:
//
//   - a [Result]: the user is known and accepted; the chain stops;
//   - [ErrUnknownUser]: this strategy does not know the user; the chain asks
//     the next strategy;
//   - [ErrInvalidCredentials]: the strategy knows the user and refuses; the
//     chain stops, so a refused login never falls through to a more permissive
//     strategy further down (a wrong password for a user of the users file is
//     never accepted by a trailing "none");
//   - [ErrUnavailable]: the backend (the webhook) could not answer; the chain
//     stops.
//
// Errors returned by strategies wrap exactly one of these sentinels (an
// expired token wraps [ErrExpired] as well as [ErrInvalidCredentials]) and
// start with "auth: <strategy>:". They never contain a password or a token.
//
// The strategies are:
//
//   - none: accepts everyone; the user id is the "username" string of the auth
//     data, anonymous when absent. It is the default when the configuration
//     names no strategy.
//   - file: users and password hashes (argon2id or bcrypt) from a YAML file
//     that is reloaded when it changes.
//   - jwt: a signed JSON Web Token (HS256, RS256 or ES256) in the "token" field.
//   - header: the user id set by an authenticating reverse proxy in a header of
//     the WebSocket upgrade request, trusted only from configured addresses.
//   - http: a webhook that answers for each login, with an optional cache of
//     successful answers.
//
// # Concurrency
//
// [Chain.Authenticate] and every strategy's Authenticate are safe for
// concurrent use from any number of goroutines. They may block (password
// hashing takes tens of milliseconds, the webhook waits for the network), so
// the session layer calls them off the event loop and posts the result back.
// Blocking calls honour the context's deadline and cancellation.
//
// Password hashing is memory-hard; the file strategy runs at most GOMAXPROCS
// hash verifications at once and makes further logins wait their turn (or
// fail with [ErrUnavailable] when their context ends first), so a burst of
// logins cannot exhaust memory.
//
// The package starts no goroutines. The file strategy checks the users file's
// modification time during a login once the reload interval has passed, and
// reloads it there; other logins carry on with the users loaded before. A file
// that fails to load keeps the previous users and is reported through the
// *slog.Logger given with [WithLogger].
//
// # Invariants
//
//   - A Result's ClientData and ServerData are either nil or valid JSON. They
//     may be shared between results; callers must not modify them.
//   - Untrusted input (auth data, headers, tokens, webhook answers) never
//     panics: it yields an error wrapping one of the sentinels.
//   - Limiting the rate of failed logins is the session's job, not this
//     package's.
package auth
