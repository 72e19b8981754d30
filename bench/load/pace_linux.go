package load

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// lockPrecise locks the calling goroutine to its thread and sets the
// thread's timer slack (50 µs by default) to 1 µs; restore puts both back.
func lockPrecise() (restore func(), ok bool) {
	runtime.LockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, false
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0); err != nil {
		runtime.UnlockOSThread()
		return nil, false
	}
	return func() {
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		runtime.UnlockOSThread()
	}, true
}

// sleepPrecise sleeps d in nanosleep(2), resuming after signals (the
// runtime's preemption signal interrupts it).
func sleepPrecise(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for {
		var rem unix.Timespec
		if err := unix.Nanosleep(&ts, &rem); err != unix.EINTR {
			return
		}
		ts = rem
	}
}
