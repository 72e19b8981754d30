package netloop

import "golang.org/x/sys/unix"

// SocketUnsent is the number of bytes in the kernel send queue of socket fd
// that the peer has not acknowledged (SIOCOUTQ); 0 when it cannot be read.
func SocketUnsent(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
