package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/spf13/cobra"
)

// newGraphCmd builds graph.
func newGraphCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Print the pipeline as a Mermaid or Graphviz diagram",
		Long: `graph prints the pipeline's sources, stages, sinks and dead-letter sink as a
Mermaid flowchart (paste it into Markdown) or a Graphviz digraph (pipe it to
dot -Tsvg). An edge into a node whose queue is not the default says how: its
overflow policy and buffer size. Dashed edges show where failed messages go.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var write func(io.Writer, *config.File) error
			switch format {
			case "mermaid":
				write = writeMermaid
			case "dot":
				write = writeDot
			default:
				return usageError{fmt.Errorf("bad --format %q: want mermaid or dot", format)}
			}
			f, err := config.Load(args[0])
			if err != nil {
				printErrors(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			return write(cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().StringVar(&format, "format", "mermaid", "mermaid or dot")
	return cmd
}

// edgeLabel describes a node's input queue when it differs from the
// default: a drop policy, an explicit buffer size.
func edgeLabel(n *config.Node) string {
	var parts []string
	if n.Options.Overflow != pipeline.Block {
		parts = append(parts, n.Options.Overflow.String())
	}
	if n.Options.Buffer > 0 {
		parts = append(parts, fmt.Sprintf("buffer %d", n.Options.Buffer))
	}
	return strings.Join(parts, ", ")
}

// failingNodes are those whose failures reach the dead-letter sink.
func failingNodes(f *config.File) []*config.Node {
	var out []*config.Node
	for _, n := range f.Nodes {
		if n.Kind != pipeline.KindSink {
			out = append(out, n)
		}
	}
	return out
}

func writeMermaid(w io.Writer, f *config.File) error {
	b := bufio.NewWriter(w)
	ids := map[string]string{}
	all := f.Nodes
	if f.DeadLetter != nil {
		all = append(all[:len(all):len(all)], f.DeadLetter)
	}
	for i, n := range all {
		ids[n.Name] = fmt.Sprintf("n%d", i)
	}
	fmt.Fprintf(b, "flowchart LR\n")
	for _, n := range all {
		label := mermaidText(n.Name) + "<br/><i>" + mermaidText(n.Type) + "</i>"
		open, closing := "[\"", "\"]" // stage: a box
		switch {
		case n == f.DeadLetter:
			open, closing = "[(\"", "\")]" // a store
		case n.Kind == pipeline.KindSource:
			open, closing = "([\"", "\"])"
		case n.Kind == pipeline.KindSink:
			open, closing = "[/\"", "\"/]"
		}
		fmt.Fprintf(b, "    %s%s%s%s\n", ids[n.Name], open, label, closing)
	}
	for _, n := range f.Nodes {
		label := edgeLabel(n)
		for _, in := range n.Inputs {
			if label != "" {
				fmt.Fprintf(b, "    %s -- \"%s\" --> %s\n", ids[in], mermaidText(label), ids[n.Name])
			} else {
				fmt.Fprintf(b, "    %s --> %s\n", ids[in], ids[n.Name])
			}
		}
	}
	if dl := f.DeadLetter; dl != nil {
		for _, n := range failingNodes(f) {
			fmt.Fprintf(b, "    %s -. failed .-> %s\n", ids[n.Name], ids[dl.Name])
		}
	}
	return b.Flush()
}

// mermaidText escapes text for a quoted Mermaid label.
func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}

func writeDot(w io.Writer, f *config.File) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "digraph %s {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n    edge [fontname=\"Helvetica\", fontsize=10];\n", dotQuote(f.Name))
	all := f.Nodes
	if f.DeadLetter != nil {
		all = append(all[:len(all):len(all)], f.DeadLetter)
	}
	for _, n := range all {
		shape := "box"
		switch {
		case n == f.DeadLetter:
			shape = "cylinder"
		case n.Kind == pipeline.KindSource:
			shape = "ellipse"
		case n.Kind == pipeline.KindSink:
			shape = "box, style=rounded"
		}
		fmt.Fprintf(b, "    %s [label=%s, shape=%s];\n", dotQuote(n.Name), dotQuote(n.Name+"\n"+n.Type), shape)
	}
	for _, n := range f.Nodes {
		label := edgeLabel(n)
		for _, in := range n.Inputs {
			if label != "" {
				fmt.Fprintf(b, "    %s -> %s [label=%s];\n", dotQuote(in), dotQuote(n.Name), dotQuote(label))
			} else {
				fmt.Fprintf(b, "    %s -> %s;\n", dotQuote(in), dotQuote(n.Name))
			}
		}
	}
	if dl := f.DeadLetter; dl != nil {
		for _, n := range failingNodes(f) {
			fmt.Fprintf(b, "    %s -> %s [style=dashed, label=\"failed\"];\n", dotQuote(n.Name), dotQuote(dl.Name))
		}
	}
	fmt.Fprintf(b, "}\n")
	return b.Flush()
}

// dotQuote returns s as a Graphviz quoted string; \n stays a line break.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
