package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/config"
)

// FuzzParse checks that Parse never panics, and that it returns either a
// File or errors that are all *component.Error.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "- a\n", "a: b\nc: d: e\n", "x: &a [*a]\nsources: *a\n",
		"sources:\n  gen: {type: test_gen, count: ${N:-3}}\nsinks:\n  o: {type: test_collect, into: x, input: gen}\n",
		"stages:\n  a: {type: test_scale, input: [a, b]}\n  b: {type: test_batch_scale, input: a, batch: {max_size: 2}}\n",
		"sources:\n  s: &n {type: test_gen}\n  t: *n\nsinks:\n  o: {type: test_collect, into: ${X}, input: [s, t, s]}\ndead_letter: {type: test_collect, into: d, input: s}\n",
		"a: b\n---\nc: d\n", "? [a]\n: b\n", "sources: {? {a: b} : c}\n", "name: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := config.Parse(data, "fuzz.yaml")
		if err == nil {
			if file == nil {
				t.Fatal("nil File and nil error")
			}
			return
		}
		if file != nil {
			t.Fatal("File returned with errors")
		}
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var ce *component.Error
			if !errors.As(e, &ce) {
				t.Fatalf("error %q is a %T", e, e)
			}
		}
	})
}
