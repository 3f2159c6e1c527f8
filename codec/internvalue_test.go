package codec

import (
	"strconv"
	"sync"
	"testing"
)

// A repeated short value costs no allocation; every value comes back as
// itself, whatever else took its slot in between.
func TestInternValue(t *testing.T) {
	b := []byte("sensor-7")
	internValue(b)
	if n := testing.AllocsPerRun(100, func() { internValue(b) }); n != 0 {
		t.Errorf("repeated value: %v allocations, want 0", n)
	}
	long := []byte("a value longer than the table keeps")
	if n := testing.AllocsPerRun(100, func() { internValue(long) }); n == 0 {
		t.Error("long value: no allocation; it must not be kept")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 * valueSlots {
				want := "v" + strconv.Itoa((i*7+g)%(2*valueSlots))
				if got := internValue([]byte(want)); got != want {
					t.Errorf("internValue(%q) = %v", want, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
