//go:build race

package pipeline

import (
	"math"
	"reflect"
)

// poison overwrites the contents of slices that a reused message's fields
// held: with NaN for floats, zeros otherwise. Tests run with the race
// detector, so there a component that keeps a field's array past the
// message's settlement, against SetSlice's contract, sees its values
// vanish at once instead of being overwritten some time later.
func poison(spare []madeSlice) {
	for _, s := range spare {
		v := reflect.ValueOf(s.box)
		switch v.Type().Elem().Kind() {
		case reflect.Float32, reflect.Float64:
			for i := range v.Len() {
				v.Index(i).SetFloat(math.NaN())
			}
		default:
			v.Clear()
		}
	}
}
