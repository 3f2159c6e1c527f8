package main

import (
	"github.com/edgeflow/edgeflow/models"
	"github.com/spf13/cobra"
)

// modelCmd groups the commands that work on ONNX model files.
var modelCmd = &cobra.Command{
	Use:   "model",
	Short: "Inspect, benchmark and fetch ONNX models",
	Long: `model works on ONNX model files with the ONNX Runtime edgeflow runs them with.

The runtime library is found as in pipelines: --ort-lib, else $ONNXRUNTIME_LIB,
else .cache/onnxruntime/lib (make deps), else the system's loader paths.`,
}

var modelFlags struct {
	library string
}

func init() {
	modelCmd.PersistentFlags().StringVar(&modelFlags.library, "ort-lib", "",
		"path of libonnxruntime.so (default: $"+models.LibraryEnv+", .cache/onnxruntime, system paths)")
	rootCmd.AddCommand(modelCmd)
}

// initRuntime loads ONNX Runtime for a model command.
func initRuntime() error { return models.Init(modelFlags.library) }
