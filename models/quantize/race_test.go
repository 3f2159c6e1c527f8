//go:build race

package quantize_test

const raceEnabled = true
