// Command edgeflow runs, checks and describes streaming inference pipelines
// defined in YAML.
//
//	edgeflow run pipeline.yaml        run until the sources end or a signal
//	edgeflow validate pipeline.yaml   report every problem in the file
//	edgeflow graph pipeline.yaml      draw the pipeline (Mermaid or Graphviz)
//	edgeflow components [TYPE]        list the component types, or describe one
//	edgeflow version                  print the version
package main

import (
	"os"

	// The built-in components register themselves when imported.
	_ "github.com/edgeflow/edgeflow/sinks"
	_ "github.com/edgeflow/edgeflow/sources"
	_ "github.com/edgeflow/edgeflow/stages"
)

func main() {
	os.Exit(execute(os.Args[1:]))
}
