package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgeflow/edgeflow/internal/redact"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// newRootCmd builds the edgeflow command with every subcommand. Each
// subcommand lives in a file of its own with a newXCmd constructor; the
// global flags are bound to a fresh globalOptions, so that every root is
// independent of any other (tests build their own).
func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "edgeflow",
		Short: "Streaming inference pipelines for edge devices",
		Long: `edgeflow runs pipelines defined in YAML: sources (MQTT, NATS, files, generators)
feed stages (decode, window, map/filter, ONNX inference, anomaly scoring) that feed
sinks, over bounded queues with backpressure and end-to-end acknowledgement.`,
		SilenceUsage:  true, // a failed pipeline is not a usage mistake
		SilenceErrors: true, // execute prints errors, once
		// Check the global flags before any command loads a file, so that a
		// typo is a usage error rather than a problem with the file.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			_, err := g.logger("info", "console")
			return err
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "",
		"lowest level logged: debug, info, warn, error (default: the file's logging.level, else info)")
	pf.StringVar(&g.logFormat, "log-format", "",
		"log format on stderr: json or console (default: the file's logging.format, else console)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newRunCmd(g),
		newValidateCmd(g),
		newGraphCmd(),
		newComponentsCmd(),
		newVersionCmd(),
		newModelCmd(g),
		newSimulateCmd(),
		newEvalCmd(g),
	)
	return root
}

// globalOptions are the root's persistent flags, read through logger.
type globalOptions struct {
	logLevel  string
	logFormat string
}

// execute runs the command line and returns the process's exit status.
func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return exitStatus(err, root.ErrOrStderr())
}

// exitError is returned by commands that have already reported what went
// wrong, so that only the exit status is left to set.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a bad flag or argument: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitStatus(err error, stderr io.Writer) int {
	var exit exitError
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.Contains(err.Error(), "arg(s)"):
		fmt.Fprintf(stderr, "edgeflow: %v\nRun 'edgeflow --help' for usage.\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "edgeflow: %v\n", err)
		return 1
	}
}

// logger returns the CLI's logger: the global flags win over the file's
// settings (level and format, either may be ""), and the default is info on
// the console. Logs go to stderr whatever the format: stdout belongs to the
// commands' output and to the stdout sink.
func (g *globalOptions) logger(fileLevel, fileFormat string) (zerolog.Logger, error) {
	level := firstNonEmpty(g.logLevel, fileLevel, "info")
	format := firstNonEmpty(g.logFormat, fileFormat, "console")
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), usageError{fmt.Errorf("bad log level %q: want debug, info, warn or error", level)}
	}
	var w io.Writer
	switch format {
	case "json":
		w = os.Stderr
	case "console":
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000", NoColor: !isTerminal(os.Stderr)}
	default:
		return zerolog.Nop(), usageError{fmt.Errorf("bad log format %q: want json or console", format)}
	}
	// Millisecond timestamps: a pipeline's events are often closer than a
	// second apart. The CLI owns the process, so setting the global is fine.
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	// No log line shows a password, whichever URL or error carries it.
	return zerolog.New(redact.Writer(w)).Level(lvl).With().Timestamp().Logger(), nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// isTerminal reports whether f is a terminal, so that colours are used only
// where a person reads them (and NO_COLOR is honoured).
func isTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
