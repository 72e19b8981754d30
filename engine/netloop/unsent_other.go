//go:build !linux

package netloop

// SocketUnsent reports 0 where the kernel send queue cannot be read.
func SocketUnsent(int) int { return 0 }
