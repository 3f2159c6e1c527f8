// Package config loads a pipeline YAML file into a validated definition and
// builds a *pipeline.Pipeline from it.
//
// Loading happens in two steps so that `edgeflow validate` can report every
// problem without side effects: Parse checks the whole file (syntax, keys,
// types, component options, the graph) and returns every problem found, each
// a *component.Error naming file:line:col and the dotted key; Build then
// constructs the connections and components and wires the pipeline.
package config

import (
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

// File is a parsed, validated pipeline definition.
type File struct {
	// Path is the file the definition came from; errors and relative paths
	// in component options are taken from it.
	Path string
	// Name is the pipeline's name (default: the file name without its
	// extension).
	Name string
	// Buffer is the default capacity of node input queues.
	Buffer int
	// DrainTimeout bounds the graceful shutdown.
	DrainTimeout time.Duration
	Logging      struct {
		Level  string // debug, info, warn, error
		Format string // json or console
	}
	Metrics struct {
		Enabled bool
		Listen  string // host:port of the Prometheus endpoint
	}
	// Connections are the shared connections, in file order.
	Connections []*Connection
	// Nodes are the sources, stages and sinks, in file order (all sources,
	// then stages, then sinks). The dead-letter sink is not among them.
	Nodes []*Node
	// DeadLetter is the sink that receives failed messages, or nil.
	DeadLetter *Node
}

// Connection is one entry of the `connections:` section.
type Connection struct {
	Name   string
	Type   string
	Spec   *component.ConnectionSpec
	Config *component.Config
	// Line and Column locate the connection's name in the file.
	Line, Column int

	clean bool // parsed without a problem, so it can be constructed
}

// Node is one source, stage or sink, or the dead-letter sink.
type Node struct {
	Name string
	Type string
	Kind pipeline.Kind
	// Inputs are the names of the nodes that feed this one (stages and
	// sinks).
	Inputs []string
	// Options are the engine options from the node's common keys (buffer,
	// overflow, workers, ordered, batch, retry).
	Options pipeline.NodeOptions
	Spec    *component.Spec
	Config  *component.Config
	// Line and Column locate the node's name in the file.
	Line, Column int

	path     string     // dotted key, e.g. stages.win
	inputsAt []inputRef // where each input entry is written
	clean    bool       // parsed without a problem, so it can be constructed
}

// inputRef is one entry of a node's `input:` with its position, so that
// graph errors can point at the entry at fault.
type inputRef struct {
	name         string
	line, column int
}

// DeadLetterName is the node name of the dead-letter sink.
const DeadLetterName = "dead_letter"
