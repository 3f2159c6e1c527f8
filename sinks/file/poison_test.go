package file

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// unencodable makes a poison message one the json and envelope formats can
// never write: a field holding a channel. The file sink has no size limit
// and no path template, so a value its format cannot encode is its only
// poison; the oversize ones keep their 100 KB blob, so that a dead letter
// kept by mistake shows on the heap.
func unencodable(_ string, fields map[string]any) { fields["bad"] = make(chan int) }

// A message the format cannot encode goes to the dead-letter sink once,
// with its reason, and every good message of its batch is written once.
// Memory stays flat: a stream with ten times the poison messages leaves no
// more live heap behind, and does not creep while it runs.
func TestSinkDeadLettersPoisonAndWritesTheRest(t *testing.T) {
	for _, format := range []string{"json", "envelope"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.jsonl")
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			stream := func(poison int) *componenttest.HeapTrack {
				if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				// A new sink each run: the pipeline closes its sinks.
				s := componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path+"\nformat: "+format).(pipeline.Sink)
				const good = 180
				src := &componenttest.PoisonSource{Good: good, Poison: poison, Blob: 100 << 10, Spoil: unencodable}
				componenttest.StreamPoison(ctx, t, src, s, map[string]string{
					componenttest.Oversize: "cannot encode chan int", componenttest.Invalid: "cannot encode chan int"})
				got := writtenSeqs(t, path, format)
				for i := 1; i <= src.N(); i++ {
					if want := map[bool]int{true: 1, false: 0}[src.Kind(i) == ""]; got[i] != want {
						t.Errorf("seq %d (%q) written %d times, want %d", i, src.Kind(i), got[i], want)
					}
				}
				return src.Heap
			}
			few := stream(20)
			many := stream(200)
			componenttest.FlatHeap(t, few, many, 2<<20)
		})
	}
}

// writtenSeqs counts the lines of the file by their seq field.
func writtenSeqs(t *testing.T, path, format string) map[int]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[int]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Seq    int
			Fields struct{ Seq int }
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if format == "envelope" {
			rec.Seq = rec.Fields.Seq
		}
		got[rec.Seq]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}
