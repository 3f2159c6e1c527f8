package codec

import (
	"hash/maphash"
	"sync/atomic"
)

// Short string values repeat from reading to reading (sensor ids, units,
// states), and each one decoded costs two allocations: the string and its
// box in the fields map. internValue hands out one boxed copy instead.
const (
	// maxInternedValue is the longest value kept: longer strings (ids,
	// messages) rarely repeat.
	maxInternedValue = 24
	// valueSlots is the size of the table. It is direct-mapped and fixed,
	// so a stream of ever-new values cannot grow it: a value that misses
	// takes its slot over, at the cost of no more allocations than
	// without the table.
	valueSlots = 512
)

var (
	values    [valueSlots]atomic.Value // each holds a string, boxed
	valueSeed = maphash.MakeSeed()
)

// internValue returns b as a string in an interface, shared with the
// earlier payloads that had the same short value. Safe for concurrent use:
// a slot is read and replaced whole.
func internValue(b []byte) any {
	if len(b) > maxInternedValue {
		return string(b)
	}
	slot := &values[maphash.Bytes(valueSeed, b)%valueSlots]
	if v := slot.Load(); v != nil {
		if s := v.(string); s == string(b) {
			return v
		}
	}
	var v any = string(b)
	slot.Store(v)
	return v
}
