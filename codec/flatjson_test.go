package codec

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
)

// flatCases are payloads the fast path takes, and ones it must leave to
// encoding/json (nesting, escapes, bad UTF-8, bad numbers, bad syntax).
var flatCases = []string{
	`{"value":71.3,"ts":"2024-01-01T00:00:00Z"}`,
	` { "a" : -0 , "b":1e3,"c":1.5E-2,"d":true,"e":false,"f":null,"g":"" } `,
	"{\"v\":\t12345678901234567890\n}\r\n",
	`{}`, ` {} `, `{"a":1,"a":2}`, `{"é":"ü"}`, `{"a":0.1}`,
	`{"a":{"b":1}}`, `{"a":[1,2]}`, `{"a":"x\"y"}`, `{"a":"\u00e9"}`, "{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}",
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`, `{"a":1e400}`, `{"a":NaN}`,
	`{"a":1,}`, `{"a":1`, `{"a" 1}`, `{a:1}`, `{"a":1}x`, `{"a":1}{}`, `{"a":tru}`, `{"a":truex}`,
	`{"a":nul}`, `{,}`, `{`, ``, `[1]`, `42`, `"s"`, `null`, `{"a":"b"`, `{"a":"b}`,
}

func TestFlatJSONMatchesEncodingJSON(t *testing.T) {
	fast := 0
	for _, c := range flatCases {
		if checkFlat(t, []byte(c)) {
			fast++
		}
	}
	// The first eight cases are flat objects: the fast path must take them.
	if fast != 8 {
		t.Errorf("fast path took %d of the cases, want 8", fast)
	}
}

// checkFlat compares the fast path with encoding/json on p and reports
// whether the fast path took it.
func checkFlat(t *testing.T, p []byte) bool {
	t.Helper()
	fields, ok := decodeFlatJSON(p, nil)
	var v any
	err := json.Unmarshal(p, &v)
	if !ok {
		return false
	}
	if err != nil {
		t.Errorf("%q: fast path decoded %v, encoding/json fails: %v", p, fields, err)
		return true
	}
	if want, isObj := v.(map[string]any); !isObj || !reflect.DeepEqual(fields, want) {
		t.Errorf("%q: fast path %#v, encoding/json %#v", p, fields, v)
	}
	return true
}

func FuzzFlatJSON(f *testing.F) {
	for _, c := range flatCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, p []byte) { checkFlat(t, p) })
}

func TestJSONDecodeFlatAllocations(t *testing.T) {
	d, _ := NewDecoder("json")
	p := []byte(`{"value":71.3,"ts":"2024-01-01T00:00:00Z"}`)
	m := &pipeline.Message{}
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(p, m); err != nil {
			t.Fatal(err)
		}
	})
	// The map (header and slot group), the boxed number, the string value
	// and its box; the field names are shared (encoding/json: 11).
	if allocs > 5 {
		t.Errorf("%v allocations per decode, want at most 5", allocs)
	}
}

func BenchmarkJSONDecode(b *testing.B) {
	d, _ := NewDecoder("json")
	p := []byte(`{"value":71.3,"ts":"2024-01-01T00:00:00Z"}`)
	m := &pipeline.Message{}
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(p, m); err != nil {
			b.Fatal(err)
		}
	}
}
