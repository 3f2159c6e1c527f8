package config

import (
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

// Defaults of the top-level keys and of the common node keys.
const (
	DefaultBuffer        = 256
	DefaultDrainTimeout  = "30s"
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "console"
	DefaultMetricsListen = "127.0.0.1:9464"
	DefaultRetryMax      = 3
	DefaultRetryBackoff  = "100ms"
)

// Names of the top-level sections that hold named entries; they are
// parsed by this package rather than as plain fields.
var sectionKeys = map[string]bool{
	"connections": true, "sources": true, "stages": true, "sinks": true, "dead_letter": true,
}

// TopLevelFields returns the keys of a pipeline file, for docs and the JSON
// Schema. The sections (connections, sources, stages, sinks, dead_letter)
// are listed as Any: their entries are described by the component specs and
// NodeFields.
func TopLevelFields() []component.Field {
	return []component.Field{
		{Name: "name", Type: component.String, Optional: true,
			Description: "Name of the pipeline, used in logs and metric labels. Defaults to the file name without its extension.",
			Example:     "press-line-3"},
		{Name: "buffer", Type: component.Int, Default: DefaultBuffer, Min: component.Bound(1),
			Description: "Default capacity of each node's input queue, in messages."},
		{Name: "drain_timeout", Type: component.Duration, Default: DefaultDrainTimeout,
			Description: "On shutdown, how long in-flight messages have to be delivered before the rest are nacked."},
		{Name: "logging", Type: component.Object, Optional: true,
			Description: "Log output of the engine and its components.",
			Fields: []component.Field{
				{Name: "level", Type: component.String, Default: DefaultLogLevel,
					Enum: []string{"debug", "info", "warn", "error"}, Description: "Lowest level logged."},
				{Name: "format", Type: component.String, Default: DefaultLogFormat,
					Enum: []string{"json", "console"}, Description: "json for machines, console for people."},
			}},
		{Name: "metrics", Type: component.Object, Optional: true,
			Description: "Prometheus metrics endpoint.",
			Fields: []component.Field{
				{Name: "enabled", Type: component.Bool, Default: true, Description: "Serve /metrics."},
				{Name: "listen", Type: component.String, Default: DefaultMetricsListen,
					Description: "host:port the metrics endpoint listens on."},
			}},
		{Name: "connections", Type: component.Any, Optional: true,
			Description: "Shared connections by name; each has a `type:` (a connection type) and that type's options. Sources and sinks refer to them by name."},
		{Name: "sources", Type: component.Any, Optional: true,
			Description: "Sources by name; each has a `type:` (a source type) and that type's options."},
		{Name: "stages", Type: component.Any, Optional: true,
			Description: "Stages by name; each has a `type:`, an `input:` and that type's options."},
		{Name: "sinks", Type: component.Any, Optional: true,
			Description: "Sinks by name; each has a `type:`, an `input:` and that type's options."},
		{Name: "dead_letter", Type: component.Any, Optional: true,
			Description: "One sink (`type:` and its options, no `input:`) that receives every message a node failed, with the node and error in its metadata."},
	}
}

// NodeFields returns the keys every node of a kind accepts besides its
// component's own fields. batching says whether the component batches
// (Spec.Batching), which adds `batch:`. For KindSink the list is also that of
// the dead-letter sink, less `input`.
func NodeFields(kind pipeline.Kind, batching bool) []component.Field {
	typ := component.Field{Name: "type", Type: component.String,
		Description: "The component type."}
	if kind == pipeline.KindSource {
		return []component.Field{typ}
	}
	fields := []component.Field{
		typ,
		{Name: "input", Type: component.StringList,
			Description: "The source(s) or stage(s) that feed this node: a name or a list of names."},
		{Name: "buffer", Type: component.Int, Optional: true, Min: component.Bound(1),
			Description: "Capacity of this node's input queue (shared by all its inputs). Defaults to the pipeline's `buffer`."},
		{Name: "overflow", Type: component.String, Default: "block",
			Enum:        []string{"block", "drop_oldest", "drop_newest"},
			Description: "What the input queue does when full: block (backpressure up to the source), drop_oldest (keep the newest, for cameras) or drop_newest."},
		{Name: "workers", Type: component.Int, Default: 1, Min: component.Bound(1),
			Description: "How many goroutines process this node's input."},
	}
	if kind == pipeline.KindStage {
		fields = append(fields, component.Field{Name: "ordered", Type: component.Bool, Optional: true,
			Description: "With workers > 1, keep output in input order (default true)."})
	}
	if batching {
		batch := component.Field{Name: "batch", Type: component.Object, Optional: true,
			Description: "Micro-batching of this node's input.",
			Fields: []component.Field{
				{Name: "max_size", Type: component.Int, Optional: true, Min: component.Bound(1),
					Description: "Largest batch (default 1 for a stage, 64 for a sink)."},
			}}
		if kind == pipeline.KindStage {
			batch.Fields = append(batch.Fields, component.Field{Name: "max_delay", Type: component.Duration, Default: "0s",
				Description: "How long to wait for a batch to fill before running a partial one; 0 runs whatever is queued at once."})
		}
		fields = append(fields, batch)
	}
	if kind == pipeline.KindSink {
		fields = append(fields, component.Field{Name: "retry", Type: component.Object, Optional: true,
			Description: "Retries of a failed write before the message is nacked.",
			Fields: []component.Field{
				{Name: "max", Type: component.Int, Default: DefaultRetryMax, Min: component.Bound(-1),
					Description: "Retries after the first attempt; -1 retries until shutdown."},
				{Name: "backoff", Type: component.Duration, Default: DefaultRetryBackoff,
					Description: "First pause between retries; it doubles up to 30s."},
			}})
	}
	return fields
}
