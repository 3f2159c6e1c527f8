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
	"slices"
	"syscall"
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
		b.ReportMetric(float64(b.N)/plainLoop(b, path, mlp, b.N).Seconds(), "inferences/s")
	})
	// The cost of producing the windows alone, to read the next result by.
	b.Run("pipeline-generate-window-drop", func(b *testing.B) {
		b.ReportMetric(float64(b.N)/pipelineRun(b, "", b.N, 0).Seconds(), "windows/s")
	})
	for _, size := range []int{1, 32} {
		b.Run(fmt.Sprintf("pipeline-generate-window-onnx-drop/max_size=%d", size), func(b *testing.B) {
			b.ReportMetric(float64(b.N)/pipelineRun(b, path, b.N, size).Seconds(), "inferences/s")
		})
	}
}

// BenchmarkOverheadPaired runs the plain loop and the pipeline (batch 1)
// alternately, several rounds, and reports the median of the pipeline's
// throughput over the loop's, round by round, so that a machine whose
// speed drifts (other load) affects both sides of each ratio alike. On a
// machine shared with other load even paired wall times scatter; the
// process's CPU time per round (cpu_plain/pipeline, the loop's CPU time over
// the pipeline's, both cores counted) is steadier and says what the
// pipeline's own work costs. A fourth run per round gives the onnx node and
// the sink queues of 1024 (pipeline_buffer1024/plain):
//
//	go test -run '^$' -bench OverheadPaired -benchtime 1x ./stages/onnx/
func BenchmarkOverheadPaired(b *testing.B) {
	modeltest.RequireRuntime(b)
	mlp := benchModel()
	path := mlp.Write(b, b.TempDir(), "ae.onnx")
	const rounds, n = 7, 20000
	ratios := make([]float64, 0, rounds)
	buffered := make([]float64, 0, rounds)
	cpu := make([]float64, 0, rounds)
	onnxSide := make([]float64, 0, rounds)
	var waits [2]int64 // voluntary context switches: plain, pipeline
	for range b.N {
		for range rounds {
			r0 := usage(b)
			plain := plainLoop(b, path, mlp, n)
			r1 := usage(b)
			piped := pipelineRun(b, path, n, 1)
			r2 := usage(b)
			pipelineRun(b, "", n, 0) // the windows alone
			r3 := usage(b)
			big := pipelineRunBuffered(b, path, n, 1, bigBuffer)
			ratios = append(ratios, plain.Seconds()/piped.Seconds())
			buffered = append(buffered, plain.Seconds()/big.Seconds())
			cpu = append(cpu, cpuTime(r0, r1).Seconds()/cpuTime(r1, r2).Seconds())
			onnxSide = append(onnxSide, cpuTime(r0, r1).Seconds()/(cpuTime(r1, r2)-cpuTime(r2, r3)).Seconds())
			waits[0] += r1.Nvcsw - r0.Nvcsw
			waits[1] += r2.Nvcsw - r1.Nvcsw
			b.Logf("plain %v (cpu %v) pipeline %v (cpu %v) windows alone cpu %v; buffer %d: pipeline %v",
				plain, cpuTime(r0, r1), piped, cpuTime(r1, r2), cpuTime(r2, r3), bigBuffer, big)
		}
	}
	slices.Sort(ratios)
	slices.Sort(buffered)
	slices.Sort(cpu)
	slices.Sort(onnxSide)
	b.ReportMetric(ratios[len(ratios)/2], "pipeline/plain")
	// The same with larger queues into the onnx node and the sink: each
	// wake-up of a sleeping thread costs the onnx goroutine 15-30 µs on a
	// KVM guest (BENCHMARKS.md), and half a queue is how many messages pass
	// per wake-up of the producer and of the sink.
	b.ReportMetric(buffered[len(buffered)/2], "pipeline_buffer1024/plain")
	b.ReportMetric(ratios[0], "min_ratio")
	b.ReportMetric(ratios[len(ratios)-1], "max_ratio")
	b.ReportMetric(cpu[len(cpu)/2], "cpu_plain/pipeline")
	// The pipeline's CPU less what producing the windows alone costs: on
	// an idle two-core machine the producer runs on the other core, so
	// this estimates the wall ratio when wall times cannot be trusted.
	b.ReportMetric(onnxSide[len(onnxSide)/2], "cpu_plain/onnx_side")
	// Threads going to sleep per inference: the engine's wake-ups show here.
	b.ReportMetric(float64(waits[0])/float64(b.N*rounds*n), "sleeps/plain_inf")
	b.ReportMetric(float64(waits[1])/float64(b.N*rounds*n), "sleeps/pipeline_inf")
}

// bigBuffer is the onnx node's and the sink's queue in the paired
// benchmark's buffered arm.
const bigBuffer = 1024

func usage(b *testing.B) syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru
}

// cpuTime is the CPU time, user and system, the process used from a to z.
func cpuTime(a, z syscall.Rusage) time.Duration {
	return time.Duration(z.Utime.Nano() + z.Stime.Nano() - a.Utime.Nano() - a.Stime.Nano())
}

// plainLoop runs the model n times with onnxruntime_go directly, reusing
// its tensors, on one thread, and returns the time taken.
func plainLoop(b *testing.B, path string, mlp *modeltest.MLP, n int) time.Duration {
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
	for range n {
		copy(in.GetData(), x)
		if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// pipelineRun moves n windows through generate -> window -> onnx -> drop
// (without the onnx stage when model is "") and returns the time taken.
func pipelineRun(b *testing.B, model string, n, batch int) time.Duration {
	return pipelineRunBuffered(b, model, n, batch, 0)
}

// pipelineRunBuffered is pipelineRun with the onnx node's and the sink's
// input queues holding buffer messages (0: the pipeline's default).
func pipelineRunBuffered(b *testing.B, model string, n, batch, buffer int) time.Duration {
	gen := component_(b, pipeline.KindSource, "generate",
		fmt.Sprintf("{rate: 0, count: %d, waveform: noise, seed: 3}", n+63))
	win := component_(b, pipeline.KindStage, "window", "{size: 64, step: 1}")
	sink := &drop{}
	p := pipeline.New(pipeline.Options{Name: "bench"})
	p.AddSource("gen", gen.(pipeline.Source), pipeline.NodeOptions{})
	p.AddStage("window", win, []string{"gen"}, pipeline.NodeOptions{})
	last := "window"
	if model != "" {
		stage := component_(b, pipeline.KindStage, "onnx",
			fmt.Sprintf("{model: %s, inputs: {x: window}, outputs: {y: reconstruction}, threads: 1, inter_threads: 1}", model)).(*Stage)
		if _, err := stage.open(); err != nil { // load outside the timing
			b.Fatal(err)
		}
		defer stage.Close(context.Background())
		p.AddStage("onnx", stage, []string{"window"}, pipeline.NodeOptions{BatchSize: batch, Buffer: buffer})
		last = "onnx"
	}
	p.AddSink("drop", sink, []string{last}, pipeline.NodeOptions{Buffer: buffer})
	b.ResetTimer()
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	if sink.n.Load() != int64(n) {
		b.Fatalf("%d delivered, want %d", sink.n.Load(), n)
	}
	return elapsed
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
