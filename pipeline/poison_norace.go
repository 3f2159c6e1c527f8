//go:build !race

package pipeline

// poison does nothing outside race-detector builds (see poison_race.go).
func poison([]madeSlice) {}
