package main

import (
	"github.com/edgeflow/edgeflow/models"
	"github.com/spf13/cobra"
)

// newModelCmd builds the group of commands that work on ONNX model files.
func newModelCmd(g *globalOptions) *cobra.Command {
	m := &modelOptions{}
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Inspect, benchmark, fetch and convert models",
		Long: `model works on ONNX model files with the ONNX Runtime edgeflow runs them with.

The runtime library is found as in pipelines: --ort-lib, else $ONNXRUNTIME_LIB,
else .cache/onnxruntime/lib (make deps), else the system's loader paths.`,
	}
	cmd.PersistentFlags().StringVar(&m.library, "ort-lib", "",
		"path of libonnxruntime.so (default: $"+models.LibraryEnv+", .cache/onnxruntime, system paths)")
	cmd.AddCommand(
		newModelInspectCmd(m),
		newModelBenchCmd(m),
		newModelCompareCmd(m),
		newModelConvertCmd(),
		newModelQuantizeCmd(m),
		newModelPruneCmd(m),
		newModelPullCmd(g),
		newModelTrainCmd(m),
	)
	return cmd
}

// modelOptions are the model group's persistent flags.
type modelOptions struct {
	library string
}

// initRuntime loads ONNX Runtime for a model command.
func (m *modelOptions) initRuntime() error { return models.Init(m.library) }
