//go:build race

package valve

const raceEnabled = true
