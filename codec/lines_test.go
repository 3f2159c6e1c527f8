package codec

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
)

// TestAppendLines checks the framing and the failure of one message alone,
// with an encoder that appends (json) and one that does not (envelope).
func TestAppendLines(t *testing.T) {
	batch := func() []*pipeline.Message {
		ms := make([]*pipeline.Message, 3)
		for i := range ms {
			ms[i] = &pipeline.Message{Fields: map[string]any{"n": float64(i)}}
		}
		return ms
	}
	for _, name := range []string{"json", "envelope"} {
		t.Run(name, func(t *testing.T) {
			enc, err := NewEncoder(name)
			if err != nil {
				t.Fatal(err)
			}
			ms := batch()
			out, errs := AppendLines([]byte("kept|"), enc, ms, "test sink")
			if errs != nil {
				t.Fatalf("every message encodes, got errors %v", errs)
			}
			lines := strings.Split(strings.TrimPrefix(string(out), "kept|"), "\n")
			if len(lines) != 4 || lines[3] != "" || !strings.HasPrefix(string(out), "kept|") {
				t.Fatalf("want the prefix kept and 3 newline-terminated lines, got %q", out)
			}
			for i, l := range lines[:3] {
				want, _ := enc.Encode(ms[i])
				if l != string(want) {
					t.Errorf("line %d = %q, want %q", i, l, want)
				}
			}

			// The middle message cannot be encoded: it alone fails, for good.
			ms[1].Fields["bad"] = make(chan int)
			out, errs = AppendLines(nil, enc, ms, "test sink")
			if len(errs) != 3 || errs[0] != nil || errs[2] != nil || errs[1] == nil {
				t.Fatalf("want only message 1 failed, got %v", errs)
			}
			if !pipeline.IsPermanent(errs[1]) || !strings.HasPrefix(errs[1].Error(), "test sink: ") {
				t.Errorf("error %q: want permanent and prefixed with the sink", errs[1])
			}
			first, _ := enc.Encode(ms[0])
			last, _ := enc.Encode(ms[2])
			if want := string(first) + "\n" + string(last) + "\n"; string(out) != want {
				t.Errorf("output %q, want %q (nothing of the failed message)", out, want)
			}
		})
	}
}

// TestAppendLinesAllocations guards the reason AppendLines exists: with an
// appending encoder and a buffer that has grown, a batch costs no
// allocation.
func TestAppendLinesAllocations(t *testing.T) {
	enc, err := NewEncoder("json")
	if err != nil {
		t.Fatal(err)
	}
	ms := []*pipeline.Message{
		{Fields: map[string]any{"sensor": "s1", "value": 21.5, "seq": float64(7)}},
		{Fields: map[string]any{"sensor": "s2", "value": -3.0, "seq": float64(8)}},
	}
	buf, _ := AppendLines(nil, enc, ms, "test sink")
	if allocs := testing.AllocsPerRun(100, func() { buf, _ = AppendLines(buf[:0], enc, ms, "test sink") }); allocs != 0 {
		t.Errorf("%.1f allocations per batch, want 0", allocs)
	}
}
