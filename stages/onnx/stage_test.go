package onnx

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mlpMessages(mlp *modeltest.MLP) func(i int) *pipeline.Message {
	return func(i int) *pipeline.Message {
		m := pipeline.NewMessage(nil)
		m.Key = "k"
		m.Fields = map[string]any{"window": mlp.Input(uint64(i)), "i": i}
		return m
	}
}

func outputsByIndex(tb testing.TB, msgs []*pipeline.Message, field string) map[int][]float32 {
	tb.Helper()
	out := map[int][]float32{}
	for _, m := range msgs {
		y, ok := m.Fields[field].([]float32)
		if !ok {
			tb.Fatalf("message %v: field %q is %T", m.Fields["i"], field, m.Fields[field])
		}
		out[m.Fields["i"].(int)] = y
	}
	return out
}

func TestBatchedPipelineMatchesUnbatched(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1}
	mlp.Write(t, dir, "mlp.onnx")
	const n = 600
	results := map[int]map[int][]float32{}
	for _, size := range []int{1, 32} {
		stage, err := build(t, dir, "{model: mlp.onnx, inputs: {x: window}, outputs: {y: score}, threads: 1}")
		if err != nil {
			t.Fatal(err)
		}
		src := &feed{n: n, make: mlpMessages(mlp)}
		sink, dead := &componenttest.Collector{}, &componenttest.Collector{}
		run(t, src, stage, pipeline.NodeOptions{BatchSize: size, BatchDelay: time.Millisecond}, sink, dead)
		if got := len(sink.Messages()); got != n || len(dead.Messages()) != 0 || src.acked.Load() != n {
			t.Fatalf("batch %d: %d delivered, %d dead, %d acked; want %d, 0, %d", size, got, len(dead.Messages()), src.acked.Load(), n, n)
		}
		for _, m := range sink.Messages() {
			if s := m.Fields["score_shape"].([]int64); !slices.Equal(s, []int64{1, 4}) {
				t.Fatalf("score_shape = %v", s)
			}
		}
		results[size] = outputsByIndex(t, sink.Messages(), "score")
		batches := histogramCount(t, stage.Metrics(), "edgeflow_onnx_batch_size")
		t.Logf("batch max %d: %d messages in %d runs", size, n, batches)
		if size == 32 && batches >= n {
			t.Errorf("max_size 32 made %d runs for %d messages: nothing was batched", batches, n)
		}
	}
	for i := range n {
		want := mlp.Forward(mlp.Input(uint64(i)))
		for k := range want {
			a, b := results[1][i][k], results[32][i][k]
			if math.Abs(float64(a-b)) > 1e-5 {
				t.Fatalf("message %d[%d]: batched %v, unbatched %v", i, k, b, a)
			}
			if math.Abs(float64(a-want[k])) > 1e-4 {
				t.Fatalf("message %d[%d]: %v, Go reference %v", i, k, a, want[k])
			}
		}
	}
}

func histogramCount(tb testing.TB, c prometheus.Collector, name string) uint64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		tb.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}

func TestMalformedInputsDeadLettered(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1}
	mlp.Write(t, dir, "mlp.onnx")
	stage, err := build(t, dir, "{model: mlp.onnx, inputs: {x: window}}")
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]func(m *pipeline.Message){
		3:  func(m *pipeline.Message) { m.Fields["window"] = make([]float32, 15) },
		7:  func(m *pipeline.Message) { delete(m.Fields, "window") },
		11: func(m *pipeline.Message) { m.Fields["window"] = "not a tensor" },
		12: func(m *pipeline.Message) { m.Fields["window"] = []any{1.0, "x"} },
		20: func(m *pipeline.Message) {
			m.Fields["window"] = models.Tensor{Shape: []int64{4, 4}, Data: make([]float32, 16)}
		},
		21: func(m *pipeline.Message) { m.Fields["window_shape"] = []int64{2, 8} },
	}
	good := mlpMessages(mlp)
	src := &feed{n: 40, make: func(i int) *pipeline.Message {
		m := good(i)
		if f := bad[i]; f != nil {
			f(m)
		}
		if i == 30 { // a list of numbers, as a JSON decoder produces, works
			m.Fields["window"] = toAny(mlp.Input(30))
		}
		return m
	}}
	sink, dead := &componenttest.Collector{}, &componenttest.Collector{}
	run(t, src, stage, pipeline.NodeOptions{BatchSize: 16, BatchDelay: 5 * time.Millisecond}, sink, dead)
	if len(sink.Messages()) != 40-len(bad) || len(dead.Messages()) != len(bad) {
		t.Fatalf("%d delivered, %d dead-lettered; want %d and %d", len(sink.Messages()), len(dead.Messages()), 40-len(bad), len(bad))
	}
	for _, m := range dead.Messages() {
		i := m.Fields[pipeline.DeadLetterFields].(map[string]any)["i"].(int) // a dead-letter record
		if bad[i] == nil {
			t.Errorf("good message %d dead-lettered: %s", i, m.Meta[pipeline.MetaDeadLetterError])
		}
		if reason := m.Meta[pipeline.MetaDeadLetterError]; !strings.Contains(reason, `model input "x"`) {
			t.Errorf("message %d: dead-letter reason %q does not name the input", i, reason)
		}
	}
	if src.acked.Load() != 40 {
		t.Errorf("%d of 40 source messages acked", src.acked.Load())
	}
	y := outputsByIndex(t, sink.Messages(), "y")[30]
	want := mlp.Forward(mlp.Input(30))
	if math.Abs(float64(y[0]-want[0])) > 1e-4 {
		t.Errorf("[]any input: got %v, want %v", y, want)
	}
}

func toAny(x []float32) []any {
	out := make([]any, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func TestFixedBatchModelRunsInGroups(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 8, Hidden: 16, Out: 3, Seed: 4, Batch: 4}
	mlp.Write(t, dir, "fixed.onnx")
	stage, err := build(t, dir, "{model: fixed.onnx, inputs: {x: window}}")
	if err != nil {
		t.Fatal(err)
	}
	src := &feed{n: 23, make: mlpMessages(mlp)}
	sink := &componenttest.Collector{}
	run(t, src, stage, pipeline.NodeOptions{BatchSize: 10, BatchDelay: 5 * time.Millisecond}, sink, nil)
	got := outputsByIndex(t, sink.Messages(), "y")
	if len(got) != 23 {
		t.Fatalf("%d outputs, want 23", len(got))
	}
	for i, y := range got {
		want := mlp.Forward(mlp.Input(uint64(i)))
		for k := range want {
			if math.Abs(float64(y[k]-want[k])) > 1e-4 {
				t.Fatalf("message %d: %v, want %v", i, y, want)
			}
		}
	}
}

// TestHotSwapLosesNothing replaces the model file halfway through a stream
// (first with a corrupt file, which is rejected, then with a new version):
// every message is delivered, each scored by one complete version.
func TestHotSwapLosesNothing(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	v1 := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1, Scale: 1}
	v2 := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1, Scale: 2}
	path := v1.Write(t, dir, "model.onnx")
	stage, err := build(t, dir, "{model: model.onnx, inputs: {x: window}, watch: 5ms}")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	src := &feed{n: n, make: mlpMessages(v1), pause: n / 2, paused: make(chan struct{}), resume: make(chan struct{})}
	sink, dead := &componenttest.Collector{}, &componenttest.Collector{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(t, src, stage, pipeline.NodeOptions{BatchSize: 32, BatchDelay: time.Millisecond, Workers: 2}, sink, dead)
	}()
	<-src.paused
	replace := func(data []byte) {
		tmp := filepath.Join(dir, "model.onnx.tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	waitReloads := func(ok, rejected uint64) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if m := stage.metrics.model.Load(); m != nil {
				if o, r := m.Reloads(); o == ok && r == rejected {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %d reloads and %d rejections", ok, rejected)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	replace([]byte("garbage"))
	waitReloads(0, 1)
	data, err := v2.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	replace(data)
	waitReloads(1, 1)
	close(src.resume)
	<-done

	if len(sink.Messages()) != n || len(dead.Messages()) != 0 || src.acked.Load() != n {
		t.Fatalf("%d delivered, %d dead, %d acked; want %d, 0, %d", len(sink.Messages()), len(dead.Messages()), src.acked.Load(), n, n)
	}
	fromV2 := 0
	for i, y := range outputsByIndex(t, sink.Messages(), "y") {
		x := v1.Input(uint64(i))
		w1, w2 := v1.Forward(x), v2.Forward(x)
		switch {
		case closeTo(y, w2):
			fromV2++
			if i < n/2 {
				t.Fatalf("message %d, sent before the swap, was scored by v2", i)
			}
		case !closeTo(y, w1):
			t.Fatalf("message %d matches neither version", i)
		}
	}
	if fromV2 != n/2 {
		t.Errorf("%d messages scored by v2, want the %d sent after the swap", fromV2, n/2)
	}
}

func closeTo(a, b []float32) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-4 {
			return false
		}
	}
	return len(a) == len(b)
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ yaml, want string }{
		"missing file": {"{model: nope.onnx, inputs: {x: window}}", "stages.infer.model"},
		"bad sha256":   {"{model: m.onnx, sha256: abc, inputs: {x: window}}", "64 hex digits"},
		"bad level":    {"{model: m.onnx, inputs: {x: window}, optimization: max}", "not one of"},
		"no inputs":    {"{model: m.onnx, inputs: {}}", "at least one"},
		"bad check":    {"{model: m.onnx, inputs: {x: window}, kernel_check: maybe}", "not one of"},
	} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, "m.onnx"), []byte("x"), 0o644)
			_, err := build(t, dir, tc.yaml)
			var ce *component.Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a *component.Error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestModelMismatchFailsMessages: a model whose inputs the config does not
// map fails every message with a clear reason instead of stopping anything.
func TestModelMismatchFailsMessages(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 4, Hidden: 4, Out: 2, Seed: 1}
	mlp.Write(t, dir, "mlp.onnx")
	stage, err := build(t, dir, "{model: mlp.onnx, inputs: {input: window}}")
	if err != nil {
		t.Fatal(err)
	}
	src := &feed{n: 5, make: mlpMessages(mlp)}
	sink, dead := &componenttest.Collector{}, &componenttest.Collector{}
	run(t, src, stage, pipeline.NodeOptions{}, sink, dead)
	if len(dead.Messages()) != 5 {
		t.Fatalf("%d dead letters, want 5", len(dead.Messages()))
	}
	if reason := dead.Messages()[0].Meta[pipeline.MetaDeadLetterError]; !strings.Contains(reason, `model input "x"`) {
		t.Errorf("reason %q", reason)
	}
}

func TestDetectorThroughStage(t *testing.T) {
	modeltest.RequireRuntime(t)
	mirror := modeltest.SharedModels()
	if mirror == "" {
		t.Skip("skipping: no model mirror at ../shared/models")
	}
	stage, err := build(t, mirror, `{model: yolox_nano.onnx, sha256: 695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14,
		inputs: {images: image}, outputs: {output: detections}}`)
	if err != nil {
		t.Fatal(err)
	}
	img := make([]float32, 3*416*416)
	for i := range img {
		img[i] = 114
	}
	src := &feed{n: 2, make: func(i int) *pipeline.Message {
		m := pipeline.NewMessage(nil)
		m.Fields = map[string]any{"image": models.Tensor{Shape: []int64{1, 3, 416, 416}, Data: img}, "i": i}
		return m
	}}
	sink := &componenttest.Collector{}
	run(t, src, stage, pipeline.NodeOptions{BatchSize: 2}, sink, nil)
	if len(sink.Messages()) != 2 {
		t.Fatalf("%d outputs", len(sink.Messages()))
	}
	for _, m := range sink.Messages() {
		if s := m.Fields["detections_shape"].([]int64); !slices.Equal(s, []int64{1, 3549, 85}) {
			t.Errorf("detections_shape = %v", s)
		}
		if d := m.Fields["detections"].([]float32); len(d) != 3549*85 {
			t.Errorf("%d values", len(d))
		}
	}
}

// TestKernelCheckInPipeline: an int8 model whose optimised kernels give
// wrong results (injected) fails every message with the check's reason by
// default; with kernel_check: warn it serves.
func TestKernelCheckInPipeline(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 4, Hidden: 16, Out: 2, Seed: 1}
	m, err := graph.Load(mlp.Write(t, dir, "mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var calib [][]float32
	for i := range 8 {
		calib = append(calib, mlp.Input(uint64(i)))
	}
	q, _, err := quantize.Static(m, quantize.FromVectors(calib), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Save(filepath.Join(dir, "mlp.int8.onnx"), q); err != nil {
		t.Fatal(err)
	}
	models.SetKernelFault(func(outs []models.Tensor) {
		for _, o := range outs {
			for i := range o.Data {
				o.Data[i] = 10 - 3*o.Data[i]
			}
		}
	})
	defer models.SetKernelFault(nil)
	for _, tc := range []struct {
		check string
		dead  int
	}{{"refuse", 5}, {"warn", 0}} {
		t.Run(tc.check, func(t *testing.T) {
			stage, err := build(t, dir, "{model: mlp.int8.onnx, inputs: {x: window}, kernel_check: "+tc.check+"}")
			if err != nil {
				t.Fatal(err)
			}
			src := &feed{n: 5, make: mlpMessages(mlp)}
			sink, dead := &componenttest.Collector{}, &componenttest.Collector{}
			run(t, src, stage, pipeline.NodeOptions{}, sink, dead)
			if len(dead.Messages()) != tc.dead || len(sink.Messages()) != 5-tc.dead {
				t.Fatalf("%d dead letters and %d results, want %d and %d", len(dead.Messages()), len(sink.Messages()), tc.dead, 5-tc.dead)
			}
			if tc.dead > 0 {
				if reason := dead.Messages()[0].Meta[pipeline.MetaDeadLetterError]; !strings.Contains(reason, "int8 kernels disagree") {
					t.Errorf("reason %q does not name the kernel check", reason)
				}
			}
		})
	}
}
