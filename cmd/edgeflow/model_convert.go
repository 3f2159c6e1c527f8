package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/edgeflow/edgeflow/models/tflite"
	"github.com/spf13/cobra"
)

// newModelConvertCmd builds model convert (IN.tflite OUT.onnx). It needs no
// ONNX Runtime: the translation is pure Go.
func newModelConvertCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "convert IN.tflite OUT.onnx",
		Short: "Convert a TensorFlow Lite model to ONNX",
		Long: `convert translates a .tflite model (float, fp16 or int8 weights, sparse weights) to an
ONNX model (opset ` + fmt.Sprint(tflite.Opset) + `) with the same inputs and outputs, NHWC as in TFLite.
Weights are dequantised and densified at conversion time. A model with operators the
converter does not know fails, listing them with their count, and nothing is written.
Supported: ` + strings.Join(tflite.Supported(), ", ") + `. See docs/convert.md.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := tflite.ConvertFile(args[0], args[1])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(w, "converted %s -> %s\n", args[0], args[1])
			fmt.Fprintf(w, "inputs    %s\n", strings.Join(rep.Inputs, ", "))
			fmt.Fprintf(w, "outputs   %s\n", strings.Join(rep.Outputs, ", "))
			fmt.Fprintf(w, "tflite    %s\n", counts(rep.Ops))
			fmt.Fprintf(w, "onnx      %s\n", counts(rep.Nodes))
			fmt.Fprintf(w, "folded    %d DEQUANTIZE/DENSIFY of weights\n", rep.Folded)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// counts formats operator counts, most frequent first.
func counts(m map[string]int) string {
	names := slices.Collect(maps.Keys(m))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b)) })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}
