package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/edgeflow/edgeflow/models"
	"github.com/spf13/cobra"
)

// newModelInspectCmd builds model inspect.
func newModelInspectCmd(m *modelOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Describe a model: inputs, outputs, opset, operators, size",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := m.initRuntime(); err != nil {
				return err
			}
			info, err := models.Inspect(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printInfoJSON(cmd.OutOrStdout(), info)
			}
			printInfo(cmd.OutOrStdout(), info)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printInfo(w io.Writer, info *models.Info) {
	fmt.Fprintf(w, "model     %s\n", info.Path)
	fmt.Fprintf(w, "size      %s (%d bytes), %d parameters\n", humanBytes(info.Size), info.Size, info.Parameters)
	fmt.Fprintf(w, "sha256    %s\n", info.SHA256)
	fmt.Fprintf(w, "ir        %d\n", info.IRVersion)
	var opsets []string
	for _, d := range sortedOpsetDomains(info.Opsets) {
		name := d
		if name == "" {
			name = "ai.onnx"
		}
		opsets = append(opsets, fmt.Sprintf("%s %d", name, info.Opsets[d]))
	}
	fmt.Fprintf(w, "opset     %s\n", strings.Join(opsets, ", "))
	if info.Producer != "" {
		fmt.Fprintf(w, "producer  %s %s\n", info.Producer, info.ProducerVersion)
	}
	for _, part := range []struct {
		title string
		list  []models.IO
	}{{"inputs", info.Inputs}, {"outputs", info.Outputs}} {
		fmt.Fprintf(w, "\n%s\n", part.title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, io := range part.list {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", io.Name, io.Type, io.ShapeString())
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\noperators (%d nodes)\n", info.Nodes)
	for _, op := range info.OperatorNames() {
		fmt.Fprintf(w, "  %6d  %s\n", info.Operators[op], op)
	}
}

func sortedOpsetDomains(m map[string]int64) []string {
	// The default domain ("") sorts first.
	return slices.Sorted(maps.Keys(m))
}

type ioJSON struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Shape    []int64  `json:"shape"`
	DimNames []string `json:"dim_names,omitempty"`
}

func printInfoJSON(w io.Writer, info *models.Info) error {
	conv := func(list []models.IO) []ioJSON {
		out := make([]ioJSON, len(list))
		for i, io := range list {
			out[i] = ioJSON{Name: io.Name, Type: io.Type, Shape: io.Shape}
			for _, n := range io.DimNames {
				if n != "" {
					out[i].DimNames = io.DimNames
					break
				}
			}
		}
		return out
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"path": info.Path, "size": info.Size, "sha256": info.SHA256,
		"ir_version": info.IRVersion, "opset": info.Opset, "opsets": info.Opsets,
		"producer": info.Producer, "producer_version": info.ProducerVersion,
		"nodes": info.Nodes, "parameters": info.Parameters, "operators": info.Operators,
		"inputs": conv(info.Inputs), "outputs": conv(info.Outputs),
	})
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
