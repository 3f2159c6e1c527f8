package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// rootCmd is the edgeflow command. Each subcommand lives in a file of its
// own and adds itself here from that file's init(), so that commands can be
// added without touching this file.
var rootCmd = &cobra.Command{
	Use:   "edgeflow",
	Short: "Streaming inference pipelines for edge devices",
	Long: `edgeflow runs pipelines defined in YAML: sources (MQTT, NATS, files, generators)
feed stages (decode, window, map/filter, ONNX inference, anomaly scoring) that feed
sinks, over bounded queues with backpressure and end-to-end acknowledgement.`,
	SilenceUsage:  true, // a failed pipeline is not a usage mistake
	SilenceErrors: true, // execute prints errors, once
}

// Global flags, read through logger().
var globalFlags struct {
	logLevel  string
	logFormat string
}

func init() {
	pf := rootCmd.PersistentFlags()
	pf.StringVar(&globalFlags.logLevel, "log-level", "",
		"lowest level logged: debug, info, warn, error (default: the file's logging.level, else info)")
	pf.StringVar(&globalFlags.logFormat, "log-format", "",
		"log format on stderr: json or console (default: the file's logging.format, else console)")
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// Check the global flags before any command loads a file, so that a
	// typo is a usage error rather than a problem with the file.
	rootCmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		_, err := logger("info", "console")
		return err
	}
}

// execute runs the command line and returns the process's exit status.
func execute(args []string) int {
	rootCmd.SetArgs(args)
	err := rootCmd.ExecuteContext(context.Background())
	return exitStatus(err, rootCmd.ErrOrStderr())
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
func logger(fileLevel, fileFormat string) (zerolog.Logger, error) {
	level := firstNonEmpty(globalFlags.logLevel, fileLevel, "info")
	format := firstNonEmpty(globalFlags.logFormat, fileFormat, "console")
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
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
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
