package models_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
	ort "github.com/yalue/onnxruntime_go"
)

// BenchmarkRun compares Session.Run (reused ORT tensors bound once, outputs
// copied into Go memory the caller owns) with a plain onnxruntime_go loop
// that reuses its tensors, on one thread:
//
//	go test -run '^$' -bench Run ./models/
func BenchmarkRun(b *testing.B) {
	modeltest.RequireRuntime(b)
	for _, mlp := range []*modeltest.MLP{
		{In: 16, Hidden: 32, Out: 4, Seed: 1},
		{In: 64, Hidden: 2048, Out: 64, Seed: 11},
	} {
		path := mlp.Write(b, b.TempDir(), "mlp.onnx")
		x := mlp.Input(1)
		name := func(s string) string { return s + "/" + string(rune('0'+mlp.Hidden/1000)) }
		b.Run(name("plain"), func(b *testing.B) {
			so, _ := ort.NewSessionOptions()
			defer so.Destroy()
			so.SetIntraOpNumThreads(1)
			so.SetInterOpNumThreads(1)
			so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0")
			sess, err := ort.NewDynamicAdvancedSession(path, []string{"x"}, []string{"y"}, so)
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Destroy()
			in, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(mlp.In)))
			out, _ := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(mlp.Out)))
			defer in.Destroy()
			defer out.Destroy()
			for b.Loop() {
				copy(in.GetData(), x)
				if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name("models"), func(b *testing.B) {
			m, err := models.Open(path, models.LoadOptions{Options: models.Options{IntraOpThreads: 1, InterOpThreads: 1}})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			in := []models.Tensor{{Shape: []int64{1, int64(mlp.In)}, Data: x}}
			for b.Loop() {
				if _, err := m.Run(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
