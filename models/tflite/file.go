package tflite

import (
	"fmt"
	"os"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// Report summarises a conversion.
type Report struct {
	// Ops counts the TFLite operators by name.
	Ops map[string]int `json:"ops"`
	// Folded is how many DEQUANTIZE and DENSIFY operators were applied to
	// weights at conversion time.
	Folded int `json:"folded"`
	// Nodes counts the ONNX nodes written, by operator type.
	Nodes map[string]int `json:"nodes"`
	// Inputs and Outputs name the model's inputs and outputs with shapes.
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

// ConvertFile reads a .tflite file and writes the ONNX translation to out
// (atomically). Nothing is written when the model has unsupported
// operators: the error (an *UnsupportedError) lists them.
func ConvertFile(in, out string) (*Report, error) {
	data, err := os.ReadFile(in)
	if err != nil {
		return nil, fmt.Errorf("read TFLite model: %w", err)
	}
	m, err := Read(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	om, err := Convert(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	if err := graph.Save(out, om); err != nil {
		return nil, err
	}
	return report(m, om), nil
}

func report(m *Model, om *onnxpb.ModelProto) *Report {
	r := &Report{Ops: map[string]int{}, Nodes: map[string]int{}}
	for _, op := range m.Operators {
		r.Ops[op.Name()]++
	}
	r.Folded = r.Ops["DEQUANTIZE"] + r.Ops["DENSIFY"]
	for _, n := range om.GetGraph().GetNode() {
		r.Nodes[n.GetOpType()]++
	}
	for _, i := range m.Inputs {
		r.Inputs = append(r.Inputs, fmt.Sprintf("%s %v", m.Tensors[i].Name, m.Tensors[i].Shape))
	}
	for _, i := range m.Outputs {
		r.Outputs = append(r.Outputs, fmt.Sprintf("%s %v", m.Tensors[i].Name, m.Tensors[i].Shape))
	}
	return r
}
