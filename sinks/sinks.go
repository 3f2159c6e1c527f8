// Package sinks registers edgeflow's built-in sinks: import it for its side
// effects.
package sinks

import (
	_ "github.com/edgeflow/edgeflow/sinks/annotate"
	_ "github.com/edgeflow/edgeflow/sinks/drop"
	_ "github.com/edgeflow/edgeflow/sinks/file"
	_ "github.com/edgeflow/edgeflow/sinks/mqtt"
	_ "github.com/edgeflow/edgeflow/sinks/nats"
	_ "github.com/edgeflow/edgeflow/sinks/stdout"
)
