package config

import (
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsProvider is implemented by components that keep metrics of their
// own beyond the engine's per-node ones (the onnx stage's batch sizes).
type metricsProvider interface {
	Metrics() prometheus.Collector
}

// reloader is implemented by components that can reload their resources in
// place, such as a model file.
type reloader interface {
	Reload() error
}

// Collectors returns the metrics collectors of the built connections and
// components, for the admin server to register next to the pipeline's.
func (b *Built) Collectors() []prometheus.Collector {
	var out []prometheus.Collector
	add := func(v any) {
		switch c := v.(type) {
		case metricsProvider:
			if m := c.Metrics(); m != nil {
				out = append(out, m)
			}
		case prometheus.Collector:
			out = append(out, c)
		}
	}
	for _, nc := range b.conns {
		add(nc.conn)
	}
	for _, name := range sortedNames(b.Components) {
		add(b.Components[name])
	}
	return out
}

// Reload asks every component that can reload (a model stage) to do so, as
// on SIGHUP. A component that fails keeps what it had; the errors are
// returned together.
func (b *Built) Reload() error {
	var errs []error
	for _, name := range sortedNames(b.Components) {
		if r, ok := b.Components[name].(reloader); ok {
			if err := r.Reload(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func sortedNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
