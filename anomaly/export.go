package anomaly

import (
	"fmt"

	"github.com/edgeflow/edgeflow/models/quantize"
	"google.golang.org/protobuf/proto"
)

// ExportPair serialises the autoencoder as float32 ONNX and as an int8 one,
// statically quantised (QDQ, per-channel weights) with activation ranges
// calibrated on calib, which should be normal training windows (at most
// 2000 are used). Quantisation needs ONNX Runtime (see models.Init).
func ExportPair(a *Autoencoder, calib [][]float32, meta map[string]string) (fp32, int8Model []byte, err error) {
	m, err := a.ONNX(meta)
	if err != nil {
		return nil, nil, err
	}
	if fp32, err = proto.Marshal(m); err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	if len(calib) > 2000 {
		sub := make([][]float32, 2000)
		for i := range sub {
			sub[i] = calib[i*len(calib)/2000]
		}
		calib = sub
	}
	q, _, err := quantize.Static(m, quantize.FromVectors(calib), quantize.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("export: quantise: %w", err)
	}
	if int8Model, err = proto.Marshal(q); err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	return fp32, int8Model, nil
}
