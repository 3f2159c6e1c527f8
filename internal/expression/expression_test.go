package expression

import (
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

func msg() *pipeline.Message {
	return &pipeline.Message{
		Key: "t1", Topic: "plant/t1", Meta: map[string]string{"unit": "C"},
		Fields:     map[string]any{"value": 21.5, "sensor": "t1", "odd-name": 3.0},
		SourceTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		IngestTime: time.Date(2024, 1, 1, 0, 0, 2, 0, time.UTC),
	}
}

func TestEval(t *testing.T) {
	for src, want := range map[string]any{
		`value * 2`:                             43.0,
		`key + "/" + topic`:                     "t1/plant/t1",
		`meta.unit`:                             "C",
		`meta["missing"] ?? "none"`:             "",
		`(ingest_time - source_time).Seconds()`: 2.0,
		`fields["odd-name"] + 1`:                4.0,
		`missing ?? 7`:                          7,
		`value > 20 && sensor == key`:           true,
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		m := msg()
		got, err := p.Eval(m)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got != want {
			t.Errorf("%s = %v (%T), want %v (%T)", src, got, got, want, want)
		}
		// The message is left as it was: builtins are not left in Fields.
		if !maps.Equal(m.Fields, msg().Fields) {
			t.Errorf("%s changed the fields to %v", src, m.Fields)
		}
	}
}

func TestBuiltinsShadowFields(t *testing.T) {
	m := msg()
	m.Fields["key"] = "from-payload"
	got, err := MustCompile(`key`).Eval(m)
	if err != nil || got != "t1" {
		t.Fatalf("key = %v, %v", got, err)
	}
	if m.Fields["key"] != "from-payload" {
		t.Fatalf("shadowed field not restored: %v", m.Fields["key"])
	}
}

func TestNilFields(t *testing.T) {
	m := &pipeline.Message{Key: "k"}
	got, err := MustCompile(`key == "k"`).Eval(m)
	if err != nil || got != true {
		t.Fatalf("%v %v", got, err)
	}
	if m.Fields != nil {
		t.Fatal("Eval attached a map to a message without fields")
	}
}

func TestErrors(t *testing.T) {
	if _, err := Compile(`value +`); err == nil || !strings.Contains(err.Error(), "value +") {
		t.Fatalf("syntax error: %v", err)
	}
	if _, err := Compile(`key + "x"`, AsBool()); err == nil {
		t.Fatal("a string expression compiled as a bool")
	}
	// Runtime: a missing field in arithmetic.
	if _, err := MustCompile(`nothing > 3`).Eval(msg()); err == nil {
		t.Fatal("comparison with a missing field succeeded")
	}
	// Runtime: a non-bool result where a bool is needed.
	_, err := MustCompile(`sensor`, AsBool()).EvalBool(msg())
	if !errors.Is(err, ErrNotBool) {
		t.Fatalf("err = %v", err)
	}
	// A missing field is not false.
	_, err = MustCompile(`nothing`, AsBool()).EvalBool(msg())
	if !errors.Is(err, ErrNotBool) {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	p := MustCompile(`value * 2 + len(key)`)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if v, err := p.Eval(msg()); err != nil || v != 45.0 {
					t.Errorf("%v %v", v, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestReserved(t *testing.T) {
	if !Reserved("key") || !Reserved("source_time") || Reserved("value") {
		t.Fatal("Reserved is wrong")
	}
}

func BenchmarkEval(b *testing.B) {
	p := MustCompile(`value * 1.8 + 32`)
	m := msg()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Eval(m); err != nil {
			b.Fatal(err)
		}
	}
}

// What used to compile and fail on every message: an unknown function. (%
// on a number field depends on the field's type: see TestCheck.)
func TestCompileCatchesRunTimeFailures(t *testing.T) {
	for src, want := range map[string]string{
		"foo(value) > 1":     `unknown function "foo"`,
		"abss(value) > 1":    `unknown function "abss" (did you mean "abs"?)`,
		"int(seq) % 7 == 0":  "",
		"abs(value) > 1":     "",
		"len(key) % 2 == 0":  "",
		"key == 'a' ? 1 : 2": "",
	} {
		_, err := Compile(src)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", src, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want an error containing %q", src, err, want)
		}
	}
}

// Any text either compiles or is refused with an error; what compiles
// evaluates (or fails) without a panic.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"value > 3", "int(seq) % 7 == 0", "foo(x)", "fields['a b'] ?? 0", "meta.k + key",
		"len(topic) > 2 && abs(value) < 1e9", "[1,2][5]", "1/0", "value.x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			return
		}
		m := pipeline.NewMessage([]byte("{}"))
		m.Fields = map[string]any{"value": 1.5, "seq": 3.0, "a b": "x"}
		m.Key, m.Topic = "k", "t/1"
		_, _ = p.Eval(m)
		_, _ = p.Eval(pipeline.NewMessage(nil))
	})
}
