package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/internal/redact"
	"github.com/spf13/cobra"
)

// newValidateCmd builds validate.
func newValidateCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check pipeline files and report every problem",
		Long: `validate parses each pipeline file, checks every key, type, component option and
the graph, type-checks every expression against the fields its messages will have
(those the sources declare with fields:, or that replayed files hold: validate
reads their header and first rows), then builds the pipeline without starting
anything (no connection is dialled, no file written), so that errors from the
components' constructors show too. It prints "ok", or every problem, one per line, as file:line:col: key: message,
and exits with status 1.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, path := range args {
				if err := validateFile(cmd, g, path); err != nil {
					printErrors(cmd.ErrOrStderr(), err)
					failed = true
					continue
				}
				if len(args) == 1 {
					fmt.Fprintln(cmd.OutOrStdout(), "ok")
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
				}
			}
			if failed {
				return exitError{1}
			}
			return nil
		},
	}
}

// validateFile checks path: parse, graph and every component's
// constructor, all problems at once; then builds it dry.
func validateFile(_ *cobra.Command, g *globalOptions, path string) error {
	level, format := "", ""
	if f, err := config.Load(path); err == nil {
		level, format = f.Logging.Level, f.Logging.Format
	}
	log, err := g.logger(level, format)
	if err != nil {
		return err
	}
	return config.Check(path, log)
}

// printErrors writes each error of a (possibly nested) errors.Join on a
// line of its own.
func printErrors(w io.Writer, err error) {
	for _, e := range flatten(err) {
		fmt.Fprintln(w, redact.Error(e))
	}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	var exit exitError
	if errors.As(err, &exit) {
		return nil
	}
	return []error{err}
}
