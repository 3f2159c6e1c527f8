// Package file is the `file` source: it replays CSV or JSON Lines files as
// sensor readings, at full speed or paced by their timestamps.
package file

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/address"
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
without its extension, unless ` + "`key: {field: NAME}`" + ` names a column holding the key.

**CSV** files start with a header row. The time column (` + "`time.field`" + `, by default
` + "`timestamp`" + `) becomes the source time; the other columns (or those listed in
` + "`values`" + `) become fields and must be numbers, except those listed in ` + "`strings`" + `.
**JSON Lines** files hold one object per line; its fields are kept as they are, the time
field becomes the source time.

Rows from several files are merged in timestamp order, so a folder of series
replays as concurrent sensors. ` + "`speed`" + ` paces the replay: ` + "`max`" + ` emits as fast as the
pipeline takes rows, ` + "`original`" + ` honours the gaps between timestamps, and a factor such
as ` + "`60x`" + ` replays sixty times faster than real time.

A row that cannot be read (wrong column count, bad time, a value that is not a
number, a JSON line without the key or time field named) goes to the dead-letter sink with
` + "`file:line`" + ` in the reason; it never stops the replay. A CSV file whose header lacks the
key or time column named stops the replay with an error instead.

` + "`edgeflow validate`" + ` reads the header and first rows of each file (up to 1000 rows, 64 files) to
learn the fields of its messages, and checks the expressions downstream against them: a CSV
file's columns (numbers, or strings for those in ` + "`strings`" + `), or the names and types of
the values in a JSON Lines file's first lines. It reports a header that lacks a column named
in the options, and a number column that holds no number in those rows. A file that does not
exist yet makes the fields unknown.`,
		Fields: []component.Field{
			{Name: "path", Type: component.String, Example: "data/nab/realKnownCause/*.csv",
				Description: "File or glob of files to replay, relative to the pipeline file."},
			{Name: "format", Type: component.String, Default: "auto", Enum: []string{"auto", "csv", "jsonl"},
				Description: "File format; `auto` picks `jsonl` for .jsonl, .ndjson and .json files and `csv` otherwise."},
			address.TimeOption("timestamp", "when the row is emitted (only `speed: max` is possible then)"),
			address.KeyOption(false),
			{Name: "values", Type: component.StringList, Optional: true,
				Description: "CSV columns to emit as numeric fields (default: every column but the time and key columns)."},
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
    time: {field: timestamp, format: "2006-01-02 15:04:05"}
    speed: 3600x`,
		New:    newSource,
		Schema: fileSchema,
	})
}

// Source is the file source.
type Source struct {
	pattern   string
	format    string
	time      address.Time // Optional unless named or needed for pacing
	key       address.Key  // zero: the file name
	values    []string
	strings   map[string]bool
	delimiter rune
	factor    float64 // 0: as fast as possible
	loop      bool
	log       zerolog.Logger
}

func newSource(conf *component.Config, res *component.Resources) (any, error) {
	s := &Source{
		pattern: conf.String("path"), format: conf.String("format"),
		values: conf.StringList("values"), strings: map[string]bool{},
		loop: conf.Bool("loop"), log: res.Logger,
	}
	var err error
	if s.time, err = address.TimeFrom(conf); err != nil {
		return nil, err
	}
	if s.key, err = address.KeyFrom(conf, ""); err != nil {
		return nil, err
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
	if factor > 0 {
		if s.time.Field == "" {
			return nil, conf.Errorf("speed", "pacing by timestamps needs a time column (`time.field`)")
		}
		s.time.Optional = false
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
