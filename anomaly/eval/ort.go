package eval

import (
	"fmt"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/models"
)

// ORTReconstructor runs a serialised autoencoder with ONNX Runtime (one
// intra-op thread); done closes its session.
func ORTReconstructor(data []byte) (r anomaly.Reconstructor, done func(), err error) {
	s, err := models.NewSession(data, models.Options{IntraOpThreads: 1})
	if err != nil {
		return nil, nil, err
	}
	return ortModel{s}, func() { s.Close() }, nil
}

// ortRuntime runs a trained autoencoder with ONNX Runtime (for
// nab.EvalConfig.Runtime).
func ortRuntime(ae *anomaly.Autoencoder) (anomaly.Reconstructor, func(), error) {
	data, err := ae.MarshalONNX(nil)
	if err != nil {
		return nil, nil, err
	}
	return ORTReconstructor(data)
}

// ortModel adapts a session to anomaly.Reconstructor.
type ortModel struct{ s *models.Session }

func (m ortModel) Reconstruct(windows [][]float32) ([][]float32, error) {
	if len(windows) == 0 {
		return nil, nil
	}
	w := len(windows[0])
	flat := make([]float32, 0, w*len(windows))
	for _, x := range windows {
		flat = append(flat, x...)
	}
	outs, err := m.s.Run([]models.Tensor{{Shape: []int64{int64(len(windows)), int64(w)}, Data: flat}})
	if err != nil {
		return nil, err
	}
	y := outs[0].Data
	if len(y) != len(flat) {
		return nil, fmt.Errorf("model returned %d values for %d", len(y), len(flat))
	}
	res := make([][]float32, len(windows))
	for i := range res {
		res[i] = y[i*w : (i+1)*w]
	}
	return res, nil
}
