package load

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// A precise pacer lowers its thread's timer slack and puts it back on close.
func TestPacerRestoresTimerSlack(t *testing.T) {
	runtime.LockOSThread() // stays on this thread across the pacer's own lock
	defer runtime.UnlockOSThread()
	before, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Skip("PR_GET_TIMERSLACK:", err)
	}
	p := newPacer(3000)
	during, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	p.close()
	after, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if during != 1000 || after != before {
		t.Fatalf("timer slack before %d, while pacing %d (want 1000), after %d", before, during, after)
	}
}
