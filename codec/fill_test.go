package codec

import (
	"reflect"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
)

// sameMap reports whether a and b are one map, not two equal ones.
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func TestDecodeIntoFillsTheGivenMap(t *testing.T) {
	for _, name := range []string{"json", "raw"} {
		dec, _ := NewDecoder(name)
		fd, ok := dec.(FillDecoder)
		if !ok {
			t.Fatalf("%s decoder is not a FillDecoder", name)
		}
		reused := map[string]any{}
		for _, c := range append(flatCases, `{"a":1,"b":{"c":2}}`) {
			want := &pipeline.Message{}
			wantErr := dec.Decode([]byte(c), want)
			got := &pipeline.Message{}
			err := fd.DecodeInto([]byte(c), got, reused)
			if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got.Fields, want.Fields) {
				t.Errorf("%s %q: DecodeInto gave %#v, %v; Decode %#v, %v", name, c, got.Fields, err, want.Fields, wantErr)
			}
			if !sameMap(got.Fields, reused) && len(reused) != 0 {
				t.Errorf("%s %q: decoded into a map of its own and left %v in the given one", name, c, reused)
			}
			clear(reused)
		}
	}
	// A flat object goes into the given map.
	fd := jsonDecoder{}
	reused := map[string]any{}
	m := &pipeline.Message{}
	if err := fd.DecodeInto([]byte(`{"v":1}`), m, reused); err != nil || !sameMap(m.Fields, reused) {
		t.Errorf("flat object: err %v, fields in the given map: %v", err, sameMap(m.Fields, reused))
	}
}

func TestJSONDecodeIntoAllocations(t *testing.T) {
	p := []byte(`{"value":71.3,"ts":"2024-01-01T00:00:00Z"}`)
	m := &pipeline.Message{}
	fields := map[string]any{}
	allocs := testing.AllocsPerRun(100, func() {
		clear(fields)
		if err := (jsonDecoder{}).DecodeInto(p, m, fields); err != nil {
			t.Fatal(err)
		}
	})
	if len(fields) != 2 || fields["value"] != 71.3 || !sameMap(m.Fields, fields) {
		t.Errorf("decoded %v into the given map (%v), want value and ts", fields, sameMap(m.Fields, fields))
	}
	// Only the boxed number: the map is reused, names and the short
	// string value are interned. The race detector allocates on its own.
	if !raceEnabled && allocs > 1 {
		t.Errorf("%v allocations per decode into a reused map, want at most 1", allocs)
	}
}

func BenchmarkJSONDecodeInto(b *testing.B) {
	p := []byte(`{"value":71.3,"ts":"2024-01-01T00:00:00Z"}`)
	m := &pipeline.Message{}
	fields := map[string]any{}
	b.ReportAllocs()
	for b.Loop() {
		clear(fields)
		if err := (jsonDecoder{}).DecodeInto(p, m, fields); err != nil {
			b.Fatal(err)
		}
	}
}
