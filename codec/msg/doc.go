// Package msg reads and writes Eddy protocol messages.
//
// Reading: View.Reset verifies an inbound buffer (Verify) and then reads it in
// place through the generated accessors of protocol/fb; nothing is copied.
// Writing: Append encodes a Msg into a caller-supplied slice using pooled
// FlatBuffers builders, in the Append style (dst in, extended dst out).
//
// Concurrency: Verify and Append are safe from any goroutine. A View belongs
// to one goroutine and is valid only as long as the buffer it reads.
//
// Invariants:
//  1. No accessor of a View reads outside its buffer once Reset returned nil.
//  2. Verify never panics, whatever the input (FuzzVerify).
package msg
