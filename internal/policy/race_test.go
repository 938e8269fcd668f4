//go:build race

package policy

// raceEnabled reports whether the race detector is on, which slows CEL
// evaluation too much for timing assertions to mean anything.
const raceEnabled = true
