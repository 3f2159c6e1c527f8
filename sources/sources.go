// Package sources registers edgeflow's built-in sources: import it for its
// side effects.
package sources

import (
	_ "github.com/edgeflow/edgeflow/sources/camera"
	_ "github.com/edgeflow/edgeflow/sources/file"
	_ "github.com/edgeflow/edgeflow/sources/generate"
	_ "github.com/edgeflow/edgeflow/sources/mqtt"
	_ "github.com/edgeflow/edgeflow/sources/nats"
)
