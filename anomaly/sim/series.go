// Package sim simulates sensors for the anomaly example: it replays NAB
// series or generates machine signals with injected faults, and publishes
// the readings to MQTT, one topic per sensor, at real or accelerated speed.
// `edgeflow simulate` is its command line.
package sim

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/anomaly/nab"
)

// Reading is one sensor value.
type Reading struct {
	// Sensor is the sensor id; it becomes one level of the MQTT topic.
	Sensor string
	// Offset is the reading's time since the first reading of its series;
	// the publisher paces readings by it, so that series recorded at
	// different dates play side by side.
	Offset time.Duration
	// Time is when the reading was taken (the series' own clock).
	Time time.Time
	// Value is the reading.
	Value float64
	// Fault is true inside a fault the simulator injected (never for NAB
	// series, whose labels are windows in a separate file).
	Fault bool
}

// Series yields one sensor's readings in time order.
type Series interface {
	// Sensor is the id of the series' sensor.
	Sensor() string
	// Next returns the next reading, or false once the series is over.
	Next() (Reading, bool)
}

// sliceSeries replays recorded readings.
type sliceSeries struct {
	sensor string
	rows   []Reading
	pos    int
}

func (s *sliceSeries) Sensor() string { return s.sensor }

func (s *sliceSeries) Next() (Reading, bool) {
	if s.pos >= len(s.rows) {
		return Reading{}, false
	}
	r := s.rows[s.pos]
	s.pos++
	return r, true
}

// Recorded replays rows (in time order, each with its Sensor, Offset and
// Time set) as the series of sensor.
func Recorded(sensor string, rows []Reading) Series {
	return &sliceSeries{sensor: sensor, rows: rows}
}

// NAB reads a NAB-format CSV (timestamp,value with a header) as a series
// whose sensor id is the file name without its extension, made safe for a
// topic level (see SensorID).
func NAB(path string) (Series, error) {
	f, err := nab.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(f.Values) == 0 {
		return nil, fmt.Errorf("sim: %s has no readings", path)
	}
	id := SensorID(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	s := &sliceSeries{sensor: id, rows: make([]Reading, len(f.Values))}
	t0 := f.Times[0]
	for i, v := range f.Values {
		s.rows[i] = Reading{Sensor: id, Offset: f.Times[i].Sub(t0), Time: f.Times[i], Value: v}
	}
	return s, nil
}

// NABFiles expands the arguments of `simulate --nab`: CSV files, folders
// (their CSV files, recursively) and glob patterns, in the order given,
// each file once.
func NABFiles(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, a := range args {
		matches, err := filepath.Glob(a)
		if err != nil {
			return nil, fmt.Errorf("sim: pattern %q: %w", a, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("sim: %s: no such file", a)
		}
		for _, m := range matches {
			files, err := csvUnder(m)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				add(f)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sim: no CSV files in %v", args)
	}
	return out, nil
}

// SensorID makes s usable as one MQTT topic level: the wildcards + and #,
// the separator / and whitespace become '_'.
func SensorID(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '+', '#', '/', ' ', '\t', '\n', '\r', 0:
			return '_'
		}
		return r
	}, s)
}

// csvUnder returns path if it is a file, or the .csv files under it, sorted,
// if it is a folder.
func csvUnder(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".csv") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return out, nil
}
