// Package stages registers edgeflow's built-in stages: import it for its
// side effects.
package stages

import (
	_ "github.com/edgeflow/edgeflow/stages/anomaly"
	_ "github.com/edgeflow/edgeflow/stages/detect"
	_ "github.com/edgeflow/edgeflow/stages/filter"
	_ "github.com/edgeflow/edgeflow/stages/image"
	_ "github.com/edgeflow/edgeflow/stages/mapping"
	_ "github.com/edgeflow/edgeflow/stages/onnx"
	_ "github.com/edgeflow/edgeflow/stages/throttle"
	_ "github.com/edgeflow/edgeflow/stages/window"
)
