package file

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// BenchmarkWriteBatch writes batches of 64 readings as JSON lines to a
// file (no fsync): the encoding and the write call, per message.
//
//	go test -run '^$' -bench WriteBatch -benchmem ./sinks/file/
func BenchmarkWriteBatch(b *testing.B) {
	path := filepath.Join(b.TempDir(), "out.jsonl")
	sink := componenttest.MustBuild(b, pipeline.KindSink, "file", "path: "+path+"\nmax_size: 0").(*Sink)
	defer sink.Close(context.Background())
	batch := make([]*pipeline.Message, 64)
	for i := range batch {
		batch[i] = &pipeline.Message{Fields: map[string]any{
			"sensor": fmt.Sprintf("s%d", i%8), "value": 20 + float64(i)/8, "seq": float64(i)}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := sink.WriteBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/msg")
}
