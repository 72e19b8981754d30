//go:build race

package rpc

// raceEnabled shortens the longest loops under the race detector, which
// slows them about fiftyfold; the plain test run keeps their full length.
const raceEnabled = true
