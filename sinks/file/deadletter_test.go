package file

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// undecodable dead-letters each payload as a source does when its codec
// refuses it, and records how each was settled.
type undecodable struct {
	payloads [][]byte
	nacked   []error
}

func (u *undecodable) Run(_ context.Context, out pipeline.SourceOutput) error {
	for i, p := range u.payloads {
		m := pipeline.NewMessage(p)
		m.Topic = "plant/s1/reading"
		m.Track(func(_ any, err error) {
			if err != nil {
				u.nacked = append(u.nacked, err)
			}
		}, i)
		out.DeadLetter(m, errors.New("decode json payload: invalid character"))
	}
	return nil
}

// The README's dead_letter (a file, default json format) must store a
// payload that did not decode, with its reason, in every format; before,
// the json encoder refused it and the message was redelivered for ever.
func TestDeadLetterFileStoresUndecodablePayloads(t *testing.T) {
	binary := []byte{0xde, 0xad, 0xbe, 0xef}
	for _, format := range []string{"json", "envelope", "raw"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dead.jsonl")
			sink := componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path+"\nformat: "+format).(pipeline.Sink)
			src := &undecodable{payloads: [][]byte{[]byte("not json {"), binary}}
			p := pipeline.New(pipeline.Options{})
			if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
				p.AddSink("out", &nopSink{}, []string{"src"}, pipeline.NodeOptions{}),
				p.SetDeadLetter("dead_letter", sink, pipeline.NodeOptions{})); err != nil {
				t.Fatal(err)
			}
			if err := p.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(src.nacked) != 0 {
				t.Fatalf("dead letters nacked (they would come back for ever): %v", src.nacked)
			}
			if format == "raw" {
				return // raw writes the payload as is: nothing to parse
			}
			got := lines(t, path)
			if len(got) != 2 {
				t.Fatalf("%d lines, want 2", len(got))
			}
			rec := func(l map[string]any) map[string]any {
				if format == "envelope" {
					return l["fields"].(map[string]any)
				}
				return l
			}
			if r := rec(got[0]); r["payload"] != "not json {" || r["error"] != "decode json payload: invalid character" || r["failed_node"] != "src" {
				t.Errorf("line 1 = %v", got[0])
			}
			if r := rec(got[1]); r["payload_base64"] != base64.StdEncoding.EncodeToString(binary) {
				t.Errorf("line 2 = %v, want the bytes in base64", got[1])
			}
		})
	}
}

type nopSink struct{}

func (nopSink) Write(context.Context, *pipeline.Message) error { return nil }
