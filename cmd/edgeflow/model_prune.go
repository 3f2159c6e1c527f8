package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/prune"
	"github.com/spf13/cobra"
)

// pruneOptions are the flags of model prune.
type pruneOptions struct {
	amount             float64
	structured, global bool
	json               bool
	ops, exclude       []string
}

// newModelPruneCmd builds model prune.
func newModelPruneCmd(mo *modelOptions) *cobra.Command {
	f := &pruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune IN OUT",
		Short: "Prune a float32 model by weight magnitude (unstructured or structured)",
		Long: `prune removes the smallest weights (L1 magnitude) of Conv, Gemm and MatMul layers.

Unstructured (default) sets --amount of each layer's weights to zero (--global:
of all layers ranked together); shapes stay, so the file and speed do not
change, but the zeros compress well and show what the model tolerates.
--structured removes --amount of each layer's output channels/neurons and
shrinks the biases, BatchNormalization and elementwise constants after it and
the next layer's input, so the model really gets smaller and faster. Layers
whose channels reach a residual join, a Concat, a reshape or a graph output
are left alone (listed with the reason). Prints the sparsity per layer.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mo.initRuntime(); err != nil {
				return err
			}
			m, err := graph.Load(args[0])
			if err != nil {
				return err
			}
			pr := newProgress(cmd.ErrOrStderr())
			defer pr.Finish()
			opts := prune.Options{Amount: f.amount, Global: f.global, Ops: f.ops, Exclude: f.exclude,
				Progress: func(done, total int) { pr.Step("pruning (layers)", done, total) }}
			var out *onnxpb.ModelProto
			var rep *prune.Report
			if f.structured {
				out, rep, err = prune.Structured(m, opts)
			} else {
				out, rep, err = prune.Unstructured(m, opts)
			}
			if err != nil {
				return err
			}
			if err := graph.Save(args[1], out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintln(w, rep)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "layer\top\tweight\tparams\tzeros\tsparsity\tchannels\n")
			for _, l := range rep.Layers {
				ch := ""
				if l.ChannelsBefore > 0 {
					ch = fmt.Sprintf("%d -> %d", l.ChannelsBefore, l.ChannelsAfter)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f%%\t%s\n", l.Node, l.Op, l.Weight, l.Params, l.Zeros, 100*l.Sparsity, ch)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, s := range rep.Skipped {
				fmt.Fprintln(w, "left alone:", s)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&f.amount, "amount", 0.5, "fraction of weights (or of output channels with --structured) to remove, in [0, 1)")
	fl.BoolVar(&f.structured, "structured", false, "remove whole output channels/neurons and shrink the following layers")
	fl.BoolVar(&f.global, "global", false, "unstructured: rank the weights of all layers together instead of per layer")
	fl.StringSliceVar(&f.ops, "ops", nil, "layer types to prune (default Conv,Gemm,MatMul)")
	fl.StringSliceVar(&f.exclude, "exclude", nil, "node names to leave untouched")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	return cmd
}
