package onnx

// Benchmarks, side by side in one run:
//
//	make deps && go test -run '^$' -bench . -benchtime 3s ./stages/onnx/
//
// BenchmarkOverhead compares the pipeline generate -> window -> onnx -> drop
// with a plain onnxruntime_go loop on the same model, with the same threads
// (1) and session options; both report inferences/s. BenchmarkMicroBatching
// feeds many messages to a small MLP with batch max_size 1 and 32.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	ort "github.com/yalue/onnxruntime_go"
	"go.yaml.in/yaml/v3"

	_ "github.com/edgeflow/edgeflow/sources/generate"
	_ "github.com/edgeflow/edgeflow/stages/window"
)

// benchModel is an MLP scoring windows of 64 readings; one run costs tens of
// microseconds on one thread, like a small sensor autoencoder.
func benchModel() *modeltest.MLP { return &modeltest.MLP{In: 64, Hidden: 2048, Out: 64, Seed: 11} }

func component_(tb testing.TB, kind pipeline.Kind, typ, src string) any {
	tb.Helper()
	spec, ok := component.Lookup(kind, typ)
	if !ok {
		tb.Fatalf("%s %q not registered", kind, typ)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		tb.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "bench.yaml", typ, nil)
	if len(errs) > 0 {
		tb.Fatal(errs[0])
	}
	c, err := spec.New(conf, &component.Resources{Logger: zerolog.Nop(), Node: typ, Pipeline: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func BenchmarkOverhead(b *testing.B) {
	modeltest.RequireRuntime(b)
	dir := b.TempDir()
	mlp := benchModel()
	path := mlp.Write(b, dir, "ae.onnx")

	b.Run("plain-onnxruntime_go", func(b *testing.B) {
		so, err := ort.NewSessionOptions()
		if err != nil {
			b.Fatal(err)
		}
		defer so.Destroy()
		so.SetIntraOpNumThreads(1)
		so.SetInterOpNumThreads(1)
		so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0")
		so.AddSessionConfigEntry("session.inter_op.allow_spinning", "0")
		sess, err := ort.NewDynamicAdvancedSession(path, []string{"x"}, []string{"y"}, so)
		if err != nil {
			b.Fatal(err)
		}
		defer sess.Destroy()
		in, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, 64))
		out, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, 64))
		defer in.Destroy()
		defer out.Destroy()
		x := mlp.Input(1)
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			copy(in.GetData(), x)
			if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inferences/s")
	})

	// The cost of producing the windows alone, to read the next result by.
	b.Run("pipeline-generate-window-drop", func(b *testing.B) {
		gen := component_(b, pipeline.KindSource, "generate",
			fmt.Sprintf("{rate: 0, count: %d, waveform: noise, seed: 3}", b.N+63))
		win := component_(b, pipeline.KindStage, "window", "{size: 64, step: 1}")
		sink := &drop{}
		p := pipeline.New(pipeline.Options{Name: "bench"})
		p.AddSource("gen", gen.(pipeline.Source), pipeline.NodeOptions{})
		p.AddStage("window", win, []string{"gen"}, pipeline.NodeOptions{})
		p.AddSink("drop", sink, []string{"window"}, pipeline.NodeOptions{})
		b.ResetTimer()
		start := time.Now()
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "windows/s")
	})

	for _, size := range []int{1, 32} {
		b.Run(fmt.Sprintf("pipeline-generate-window-onnx-drop/max_size=%d", size), func(b *testing.B) {
			gen := component_(b, pipeline.KindSource, "generate",
				fmt.Sprintf("{rate: 0, count: %d, waveform: noise, seed: 3}", b.N+63))
			win := component_(b, pipeline.KindStage, "window", "{size: 64, step: 1}")
			stage := component_(b, pipeline.KindStage, "onnx",
				fmt.Sprintf("{model: %s, inputs: {x: window}, outputs: {y: reconstruction}, threads: 1, inter_threads: 1}", path)).(*Stage)
			if _, err := stage.open(); err != nil { // load outside the timing
				b.Fatal(err)
			}
			sink := &drop{}
			p := pipeline.New(pipeline.Options{Name: "bench"})
			p.AddSource("gen", gen.(pipeline.Source), pipeline.NodeOptions{})
			p.AddStage("window", win, []string{"gen"}, pipeline.NodeOptions{})
			p.AddStage("onnx", stage, []string{"window"}, pipeline.NodeOptions{BatchSize: size})
			p.AddSink("drop", sink, []string{"onnx"}, pipeline.NodeOptions{})
			b.ResetTimer()
			start := time.Now()
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			if sink.n.Load() != int64(b.N) {
				b.Fatalf("%d inferences, want %d", sink.n.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "inferences/s")
		})
	}
}

// BenchmarkMicroBatching pushes many small messages through the stage, with
// batches of at most 1 and at most 32 (max_delay 0: take whatever is queued).
func BenchmarkMicroBatching(b *testing.B) {
	modeltest.RequireRuntime(b)
	dir := b.TempDir()
	// A small sensor model: a window of 64 readings, 256 hidden units.
	mlp := &modeltest.MLP{In: 64, Hidden: 256, Out: 16, Seed: 1}
	mlp.Write(b, dir, "mlp.onnx")
	x := mlp.Input(1)
	for _, size := range []int{1, 32} {
		b.Run(fmt.Sprintf("max_size=%d", size), func(b *testing.B) {
			stage, err := build(b, dir, "{model: mlp.onnx, inputs: {x: window}, threads: 1, inter_threads: 1}")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := stage.open(); err != nil {
				b.Fatal(err)
			}
			src := &feed{n: b.N, make: func(int) *pipeline.Message {
				m := pipeline.NewMessage(nil)
				m.Fields = map[string]any{"window": x}
				return m
			}}
			sink := &drop{}
			b.ResetTimer()
			start := time.Now()
			run(b, src, stage, pipeline.NodeOptions{BatchSize: size, Buffer: 1024}, sink, nil)
			elapsed := time.Since(start)
			if sink.n.Load() != int64(b.N) {
				b.Fatalf("%d delivered, want %d", sink.n.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/float64(histogramCount(b, stage.Metrics(), "edgeflow_onnx_batch_size")), "msgs/run")
		})
	}
}

// BenchmarkDetector compares the stage with a plain loop on YOLOX-Nano from
// the mirror (one image per run, 1 thread).
func BenchmarkDetector(b *testing.B) {
	modeltest.RequireRuntime(b)
	mirror := modeltest.SharedModels()
	if mirror == "" {
		b.Skip("skipping: no model mirror at ../shared/models")
	}
	path := mirror + "/yolox_nano.onnx"
	img := make([]float32, 3*416*416)
	for i := range img {
		img[i] = float32(i % 255)
	}
	b.Run("plain-onnxruntime_go", func(b *testing.B) {
		m, err := models.Open(path, models.LoadOptions{Options: models.Options{IntraOpThreads: 1, InterOpThreads: 1}})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		so, _ := ort.NewSessionOptions()
		defer so.Destroy()
		so.SetIntraOpNumThreads(1)
		so.SetInterOpNumThreads(1)
		so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0")
		so.AddSessionConfigEntry("session.inter_op.allow_spinning", "0")
		sess, err := ort.NewDynamicAdvancedSession(path, []string{"images"}, []string{"output"}, so)
		if err != nil {
			b.Fatal(err)
		}
		defer sess.Destroy()
		in, _ := ort.NewTensor(ort.NewShape(1, 3, 416, 416), img)
		out, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, 3549, 85))
		defer in.Destroy()
		defer out.Destroy()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inferences/s")
	})
	b.Run("pipeline", func(b *testing.B) {
		stage, err := build(b, mirror, "{model: yolox_nano.onnx, inputs: {images: image}, threads: 1, inter_threads: 1}")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := stage.open(); err != nil {
			b.Fatal(err)
		}
		src := &feed{n: b.N, make: func(int) *pipeline.Message {
			m := pipeline.NewMessage(nil)
			m.Fields = map[string]any{"image": models.Tensor{Shape: []int64{1, 3, 416, 416}, Data: img}}
			return m
		}}
		sink := &drop{}
		b.ResetTimer()
		start := time.Now()
		run(b, src, stage, pipeline.NodeOptions{}, sink, nil)
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inferences/s")
	})
}
