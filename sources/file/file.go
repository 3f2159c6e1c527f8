// Package file is the `file` source: it replays CSV or JSON Lines files as
// sensor readings, at full speed or paced by their timestamps.
package file

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSource,
		Name:    "file",
		Summary: "Replay CSV or JSON Lines files as readings, at full speed or paced by their timestamps.",
		Description: `Reads every file matching ` + "`path`" + ` (a glob; relative to the pipeline file) and emits
one message per row. Each file is one sensor by default: the key is the file name
without its extension, unless ` + "`key_column`" + ` names a column holding the key.

**CSV** files start with a header row. The ` + "`timestamp`" + ` column becomes the source time;
the other columns (or those listed in ` + "`values`" + `) become fields and must be numbers,
except those listed in ` + "`strings`" + `. **JSON Lines** files hold one object per line; its
fields are kept as they are, the timestamp field becomes the source time.

Rows from several files are merged in timestamp order, so a folder of series
replays as concurrent sensors. ` + "`speed`" + ` paces the replay: ` + "`max`" + ` emits as fast as the
pipeline takes rows, ` + "`original`" + ` honours the gaps between timestamps, and a factor such
as ` + "`60x`" + ` replays sixty times faster than real time.

A row that cannot be read (wrong column count, bad timestamp, a value that is not
a number) goes to the dead-letter sink with ` + "`file:line`" + ` in the reason; it never stops
the replay. Files are opened when the pipeline runs, not when it is validated.`,
		Fields: []component.Field{
			{Name: "path", Type: component.String, Example: "data/nab/realKnownCause/*.csv",
				Description: "File or glob of files to replay, relative to the pipeline file."},
			{Name: "format", Type: component.String, Default: "auto", Enum: []string{"auto", "csv", "jsonl"},
				Description: "File format; `auto` picks `jsonl` for .jsonl, .ndjson and .json files and `csv` otherwise."},
			{Name: "timestamp", Type: component.String, Default: "timestamp",
				Description: "Column or field holding the reading time. Empty: rows have no time, and the source time is when they are emitted (only `speed: max` is possible then)."},
			{Name: "time_format", Type: component.String, Default: "auto",
				Example:     "2006-01-02 15:04:05",
				Description: "How timestamps are written: `auto` (RFC 3339, `2006-01-02 15:04:05`, with a T or fractional seconds, or Unix seconds/milliseconds by magnitude), `unix`, `unix_ms`, or a Go time layout. Times without a zone are UTC."},
			{Name: "key_column", Type: component.String, Optional: true,
				Description: "Column or field holding the message key; by default the key is the file name without its extension."},
			{Name: "values", Type: component.StringList, Optional: true,
				Description: "CSV columns to emit as numeric fields (default: every column but the timestamp and key columns)."},
			{Name: "strings", Type: component.StringList, Optional: true,
				Description: "CSV columns to keep as strings instead of requiring numbers."},
			{Name: "delimiter", Type: component.String, Default: ",",
				Description: "CSV field separator (one character)."},
			{Name: "speed", Type: component.String, Default: "max",
				Description: "`max`, `original`, or a speed-up factor such as `60x` (or `0.5x` for slow motion)."},
			{Name: "loop", Type: component.Bool, Default: false,
				Description: "Start again from the beginning when every file has been replayed."},
		},
		Example: `sources:
  nab:
    type: file
    path: ../shared/data/nab/data/realKnownCause/*.csv
    speed: 3600x`,
		New: newSource,
	})
}

// Source is the file source.
type Source struct {
	pattern    string
	format     string
	timestamp  string
	tsGiven    bool // timestamp column named explicitly: its absence is an error
	timeFormat string
	keyColumn  string
	values     []string
	strings    map[string]bool
	delimiter  rune
	factor     float64 // 0: as fast as possible
	loop       bool
	log        zerolog.Logger
}

func newSource(conf *component.Config, res *component.Resources) (any, error) {
	s := &Source{
		pattern: conf.String("path"), format: conf.String("format"),
		timestamp: conf.String("timestamp"), tsGiven: conf.Given("timestamp"),
		timeFormat: conf.String("time_format"), keyColumn: conf.String("key_column"),
		values: conf.StringList("values"), strings: map[string]bool{},
		loop: conf.Bool("loop"), log: res.Logger,
	}
	if s.pattern == "" {
		return nil, conf.Errorf("path", "empty path")
	}
	if !filepath.IsAbs(s.pattern) && res.Dir != "" {
		s.pattern = filepath.Join(res.Dir, s.pattern)
	}
	if _, err := filepath.Match(s.pattern, ""); err != nil {
		return nil, conf.Errorf("path", "bad glob %q: %v", conf.String("path"), err)
	}
	for _, c := range conf.StringList("strings") {
		s.strings[c] = true
	}
	d := []rune(conf.String("delimiter"))
	if len(d) != 1 || d[0] == '"' || d[0] == '\n' || d[0] == '\r' {
		return nil, conf.Errorf("delimiter", "want a single character other than a quote or newline, got %q", conf.String("delimiter"))
	}
	s.delimiter = d[0]
	factor, err := parseSpeed(conf.String("speed"))
	if err != nil {
		return nil, conf.Errorf("speed", "%v", err)
	}
	s.factor = factor
	if factor > 0 && s.timestamp == "" {
		return nil, conf.Errorf("speed", "pacing by timestamps needs a `timestamp` column")
	}
	if _, err := newTimeParser(s.timeFormat); err != nil {
		return nil, conf.Errorf("time_format", "%v", err)
	}
	return s, nil
}

// parseSpeed returns the replay factor: 0 for max, 1 for original.
func parseSpeed(s string) (float64, error) {
	switch s {
	case "max":
		return 0, nil
	case "original":
		return 1, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || f <= 0 || f > 1e9 {
		return 0, fmt.Errorf("want max, original, or a positive factor such as 60x; got %q", s)
	}
	return f, nil
}

// timeParser parses one timestamp cell.
type timeParser func(string) (time.Time, error)

var autoLayouts = []string{
	time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04", "2006-01-02",
}

func newTimeParser(format string) (timeParser, error) {
	switch format {
	case "unix":
		return func(s string) (time.Time, error) { return unix(s, time.Second) }, nil
	case "unix_ms":
		return func(s string) (time.Time, error) { return unix(s, time.Millisecond) }, nil
	case "auto":
		last := 0 // the layout that worked last: files are consistent
		return func(s string) (time.Time, error) {
			s = strings.TrimSpace(s)
			if t, err := time.Parse(autoLayouts[last], s); err == nil {
				return t, nil
			}
			for i, l := range autoLayouts {
				if t, err := time.Parse(l, s); err == nil {
					last = i
					return t, nil
				}
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				if f > 1e11 || f < -1e11 {
					return unix(s, time.Millisecond)
				}
				return unix(s, time.Second)
			}
			return time.Time{}, fmt.Errorf("cannot parse time %q", s)
		}, nil
	case "":
		return nil, fmt.Errorf("empty time format")
	}
	// A Go layout must at least format a time back to itself.
	ref := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	if out := ref.Format(format); out == format {
		return nil, fmt.Errorf("%q is not auto, unix, unix_ms or a Go time layout such as 2006-01-02 15:04:05", format)
	} else if _, err := time.Parse(format, out); err != nil {
		return nil, fmt.Errorf("%q is not auto, unix, unix_ms or a Go time layout", format)
	}
	return func(s string) (time.Time, error) {
		return time.Parse(format, strings.TrimSpace(s))
	}, nil
}

func unix(s string, unit time.Duration) (time.Time, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot parse Unix time %q", s)
	}
	return time.Unix(0, int64(f*float64(unit))).UTC(), nil
}
