//go:build !linux

package load

import "time"

func lockPrecise() (restore func(), ok bool) { return nil, false }

func sleepPrecise(d time.Duration) { time.Sleep(d) }
