// Package graph reads, edits and writes ONNX models on top of the generated
// protobuf types in models/onnxpb: loading and saving, an index of a graph's
// initializers, producers and consumers, topological ordering, tensor data
// conversion, attributes and opset/IR bookkeeping.
//
// It is the layer the compression tools (quantize, prune) rewrite models
// with; nothing here needs ONNX Runtime.
package graph

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Load reads and parses a model file. Models whose tensors live in external
// data files are refused, because a rewritten copy would lose them.
func Load(path string) (*onnxpb.ModelProto, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

// Decode parses a serialised model and checks that it has a graph.
func Decode(data []byte) (*onnxpb.ModelProto, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("not an ONNX model: no graph")
	}
	for _, t := range m.GetGraph().GetInitializer() {
		if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			return nil, fmt.Errorf("initializer %q uses external data, which is not supported", t.GetName())
		}
	}
	return &m, nil
}

// Encode serialises a model. Output is deterministic so that the same model
// always gives the same bytes (and checksum).
func Encode(m *onnxpb.ModelProto) ([]byte, error) {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	return data, nil
}

// Save writes a model to path atomically: it writes a temporary file in the
// same folder and renames it into place, so a reader (or a hot-reloading
// pipeline) never sees half a model.
func Save(path string, m *onnxpb.ModelProto) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// WriteFileAtomic writes data to path through a temporary file and a rename.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("save model %s: %w", path, werr)
	}
	return nil
}

// Clone deep-copies a model, so that a rewrite never changes its input.
func Clone(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	return proto.Clone(m).(*onnxpb.ModelProto)
}
