package models_test

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// qdqModel is the smallest int8 model: x -> QuantizeLinear ->
// DequantizeLinear -> y, with kernel-check samples in its metadata, so that
// loading it runs the int8 kernel check as a quantised model's load does.
func qdqModel(tb testing.TB) []byte {
	tb.Helper()
	samples, err := models.EncodeCheckSamples([][]models.Tensor{{{Shape: []int64{1, 4}, Data: []float32{0, 0.5, -1, 2}}}})
	if err != nil {
		tb.Fatal(err)
	}
	m := &onnxpb.ModelProto{
		IrVersion:     proto.Int64(7),
		OpsetImport:   []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		MetadataProps: []*onnxpb.StringStringEntryProto{{Key: proto.String(models.CheckSamplesKey), Value: proto.String(samples)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("qdq"),
			Node: []*onnxpb.NodeProto{
				graph.Node("QuantizeLinear", "q", []string{"x", "s", "z"}, []string{"xq"}),
				graph.Node("DequantizeLinear", "dq", []string{"xq", "s", "z"}, []string{"y"}),
			},
			Initializer: []*onnxpb.TensorProto{
				graph.FloatTensor("s", nil, []float32{0.02}),
				graph.Uint8Tensor("z", nil, []uint8{128}),
			},
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", -1, 4)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", -1, 4)},
		},
	}
	b, err := graph.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzOpen: the model loader every onnx stage and `edgeflow model` command
// goes through (read the file, parse it, describe it, make an ONNX Runtime
// session, run the int8 kernel check on a quantised model) refuses any bad
// file with an error: no panic, no crash in ONNX Runtime, no allocation
// that a few bytes of hostile shape can blow up.
func FuzzOpen(f *testing.F) {
	modeltest.RequireRuntime(f)
	mlp, err := (&modeltest.MLP{In: 2, Hidden: 3, Out: 1, Seed: 1}).Bytes()
	if err != nil {
		f.Fatal(err)
	}
	qdq := qdqModel(f)
	for _, b := range [][]byte{mlp, qdq, mlp[:len(mlp)/2], qdq[:len(qdq)-7], {}, {0x3a, 0x02, 0x0a, 0x00}} {
		f.Add(b)
	}
	dir := f.TempDir()
	// The seeds must load, or the fuzzer never gets past the parser.
	for _, b := range [][]byte{mlp, qdq} {
		path := filepath.Join(dir, "seed.onnx")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			f.Fatal(err)
		}
		m, err := models.Open(path, models.LoadOptions{})
		if err != nil {
			f.Fatalf("seed does not load: %v", err)
		}
		if info, _ := m.Info(); len(b) == len(qdq) && !info.Quantized() {
			f.Fatal("the QDQ seed is not seen as quantised: the kernel check would not run")
		}
		m.Close()
	}
	// One thread per session: ORT's thread pools cost more to start than
	// these models cost to run, and a parser is single-threaded anyway.
	opts := models.LoadOptions{Options: models.Options{IntraOpThreads: 1, InterOpThreads: 1}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8<<10 {
			return // a bigger file reaches no code a small one does not; it only slows the run
		}
		path := filepath.Join(dir, "model.onnx")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := models.Open(path, opts)
		if err != nil {
			return
		}
		if _, err := m.Info(); err != nil {
			t.Fatalf("a loaded model has no info: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCheckSamples: the kernel-check samples come from a model file's
// metadata, so they are input too: bad text is an error, whatever shape
// and thumbnail grid it claims.
func FuzzCheckSamples(f *testing.F) {
	big := make([]float32, 3*64*64)
	for i := range big {
		big[i] = float32(i%97) / 97
	}
	for _, s := range [][]models.Tensor{
		{{Shape: []int64{1, 4}, Data: []float32{0, 0.5, -1, 2}}},
		{{Shape: []int64{1, 3, 64, 64}, Data: big}, {Shape: []int64{2}, Data: []float32{1, 2}}},
	} {
		text, err := models.EncodeCheckSamples([][]models.Tensor{s})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(text)
	}
	f.Add(`{"version":1,"samples":[[{"shape":[-1,-1],"grid":[1,1],"u8":""}]]}`)
	f.Add(`{"version":1,"samples":[[{"shape":[4294967296,4294967296],"f32":""}]]}`)
	f.Fuzz(func(t *testing.T, text string) {
		samples, err := models.DecodeCheckSamples(text)
		if err != nil {
			return
		}
		for _, s := range samples {
			for _, tensor := range s {
				if n := models.Elements(tensor.Shape); n != int64(len(tensor.Data)) {
					t.Fatalf("shape %v holds %d values, decoded %d", tensor.Shape, n, len(tensor.Data))
				}
			}
		}
	})
}

// TestCheckSamplesRefuseWrappingShapes: a stored sample whose dimensions
// multiply past 2^64 back to a small count (3 × 6148914691236517206 wraps
// to 2) is refused. It passed the size bound and then indexed the
// upsampled thumbnail far past its two values.
func TestCheckSamplesRefuseWrappingShapes(t *testing.T) {
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	w.Write([]byte{7})
	w.Close()
	for _, shape := range []string{"[3,6148914691236517206]", "[1,-2,-2]", "[2,0,5]"} {
		text := fmt.Sprintf(`{"version":1,"samples":[[{"shape":%s,"grid":[1,1],"lo":0,"hi":1,"u8":%q}]]}`,
			shape, base64.StdEncoding.EncodeToString(z.Bytes()))
		if _, err := models.DecodeCheckSamples(text); err == nil {
			t.Errorf("shape %s: decoded without an error", shape)
		}
	}
}
