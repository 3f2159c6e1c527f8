package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
)

// AppendEncode writes what Encode returns, and a reading's object costs no
// allocation once the caller's buffer has room: the sinks' hot path.
func TestJSONAppendEncodeMatchesEncodeWithoutAllocating(t *testing.T) {
	enc := jsonEncoder{}
	m := pipeline.NewMessage(nil)
	m.Fields = map[string]any{"sensor": "s1", "seq": 12.0, "ts": 1.7e18, "value": 21.5}
	want, err := enc.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	got, err := enc.AppendEncode(buf, m)
	if err != nil || string(got) != string(want) {
		t.Fatalf("AppendEncode = %s, %v; Encode = %s", got, err, want)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = enc.AppendEncode(buf[:0], m) }); n != 0 {
		t.Errorf("AppendEncode of a 4-field reading: %v allocations, want 0", n)
	}
}

// Objects with more fields than fit the stack's key array still come out
// with their keys sorted.
func TestJSONManyFieldsSorted(t *testing.T) {
	fields := map[string]any{}
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("f%02d", 39-i)
		fields[k] = float64(i)
		keys = append(keys, k)
	}
	b, err := AppendJSON(nil, fields)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]float64
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 40 {
		t.Fatalf("%s: %v", b, err)
	}
	slices.Sort(keys)
	d := json.NewDecoder(bytes.NewReader(b))
	if _, err := d.Token(); err != nil { // {
		t.Fatal(err)
	}
	for i := 0; d.More(); i++ {
		k, _ := d.Token()
		if k != keys[i] {
			t.Fatalf("key %d is %v, want %s", i, k, keys[i])
		}
		if _, err := d.Token(); err != nil {
			t.Fatal(err)
		}
	}
}
