package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/reference"
	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"github.com/spf13/cobra"
)

// newComponentsCmd builds components.
func newComponentsCmd() *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "components [TYPE]",
		Short: "List the component types, or describe one",
		Long: `components lists the registered connection, source, stage and sink types with
a line on each. With TYPE it prints that type's full reference: its keys, their
types, defaults and descriptions, and an example. A name used by several kinds
(mqtt is a source and a sink) prints each; write source/mqtt to pick one.

--format markdown prints the whole reference (docs/components.md) and
--format json-schema the JSON Schema of a pipeline file (docs/edgeflow.schema.json).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var buf bytes.Buffer
			switch {
			case format == "text" && len(args) == 1:
				if err := describeComponent(&buf, args[0]); err != nil {
					return err
				}
			case format == "text":
				listComponents(&buf)
			case len(args) == 1:
				return usageError{fmt.Errorf("--format %s prints the whole reference; it takes no TYPE", format)}
			case format == "markdown":
				if err := reference.Markdown(&buf); err != nil {
					return err
				}
			case format == "json-schema":
				schema, err := reference.Schema()
				if err != nil {
					return err
				}
				buf.Write(schema)
			default:
				return usageError{fmt.Errorf("bad --format %q: want text, markdown or json-schema", format)}
			}
			if output != "" {
				return writeFileAtomic(output, buf.Bytes())
			}
			_, err := cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text, markdown or json-schema")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

func listComponents(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if conns := component.AllConnections(); len(conns) > 0 {
		fmt.Fprintf(tw, "Connections:\n")
		for _, c := range conns {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
		}
		fmt.Fprintf(tw, "\n")
	}
	for _, k := range reference.Kinds {
		fmt.Fprintf(tw, "%s:\n", reference.KindTitle(k))
		specs := component.All(k)
		if len(specs) == 0 {
			fmt.Fprintf(tw, "  (none)\n")
		}
		for _, s := range specs {
			summary := s.Summary
			if s.Batching {
				summary += " [batching]"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", s.Name, summary)
		}
		fmt.Fprintf(tw, "\n")
	}
	fmt.Fprintf(tw, "Run 'edgeflow components TYPE' for a type's keys and an example.\n")
	tw.Flush()
}

func describeComponent(w io.Writer, name string) error {
	specs := reference.Find(name)
	bare := name
	if _, n, ok := strings.Cut(name, "/"); ok {
		bare = n
	}
	conn, isConn := component.LookupConnection(bare)
	if strings.Contains(name, "/") {
		k, _, _ := strings.Cut(name, "/")
		isConn = isConn && (k == "connection" || k == "connections")
	}
	if len(specs) == 0 && !isConn {
		var known []string
		for _, k := range reference.Kinds {
			known = append(known, component.Names(k)...)
		}
		for _, c := range component.AllConnections() {
			known = append(known, c.Name)
		}
		return fmt.Errorf("no component type %q%s; 'edgeflow components' lists them", name, didyoumean.Suggest(bare, known))
	}
	first := true
	sep := func() {
		if !first {
			fmt.Fprintln(w)
		}
		first = false
	}
	if isConn {
		sep()
		if err := reference.WriteConnection(w, conn); err != nil {
			return err
		}
	}
	for _, s := range specs {
		sep()
		if err := reference.WriteComponent(w, s); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic replaces path with data, so that an interrupted `make
// docs` never leaves a half-written reference behind.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
