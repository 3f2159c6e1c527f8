package compare

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/models"
)

// Sample is one input for the model(s): a tensor per model input.
type Sample struct {
	Name   string
	Inputs []models.Tensor
}

// LoadVectors reads samples of one [1,N] input each from a CSV file (one
// vector per row; non-numeric rows such as a header are skipped) or a JSON
// Lines file (one array per line, or an object whose "window", "input",
// "values" or "vector" field is the array), at most limit of them (0: all).
// Images and series have loaders of their own (vision/eval, anomaly/eval).
func LoadVectors(path string, limit int) ([]Sample, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var out []Sample
	var err error
	switch lower := strings.ToLower(path); {
	case strings.HasSuffix(lower, ".csv"):
		out, err = loadCSV(path)
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".ndjson"):
		out, err = loadJSONL(path)
	default:
		return nil, fmt.Errorf("data: %s is not a folder of images, an image, a .csv or a .jsonl file", path)
	}
	if err != nil {
		return nil, err
	}
	return Limit(out, limit), nil
}

// Limit keeps the first n samples (all when n <= 0).
func Limit(s []Sample, n int) []Sample {
	if n > 0 && len(s) > n {
		return s[:n]
	}
	return s
}

func loadCSV(path string) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	var out []Sample
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		v := make([]float32, 0, len(rec))
		for _, s := range rec {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
			if err != nil {
				v = nil
				break
			}
			v = append(v, float32(x))
		}
		if len(v) == 0 {
			continue // a header or a blank line
		}
		out = append(out, VectorSample(fmt.Sprintf("%s:%d", filepath.Base(path), line), v))
	}
	return checkVectors(path, out)
}

func loadJSONL(path string) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 64<<20)
	var out []Sample
	for line := 1; s.Scan(); line++ {
		text := strings.TrimSpace(s.Text())
		if text == "" {
			continue
		}
		var v []float32
		if strings.HasPrefix(text, "[") {
			if err := json.Unmarshal([]byte(text), &v); err != nil {
				return nil, fmt.Errorf("data: %s:%d: %w", path, line, err)
			}
		} else {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(text), &obj); err != nil {
				return nil, fmt.Errorf("data: %s:%d: %w", path, line, err)
			}
			for _, k := range []string{"window", "input", "values", "vector"} {
				if raw, ok := obj[k]; ok {
					if err := json.Unmarshal(raw, &v); err != nil {
						return nil, fmt.Errorf("data: %s:%d: field %q: %w", path, line, k, err)
					}
					break
				}
			}
			if v == nil {
				return nil, fmt.Errorf("data: %s:%d: no window, input, values or vector array", path, line)
			}
		}
		out = append(out, VectorSample(fmt.Sprintf("%s:%d", filepath.Base(path), line), v))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return checkVectors(path, out)
}

// VectorSample is a sample of one [1,len(v)] input.
func VectorSample(name string, v []float32) Sample {
	return Sample{Name: name, Inputs: []models.Tensor{{Shape: []int64{1, int64(len(v))}, Data: v}}}
}

func checkVectors(path string, out []Sample) ([]Sample, error) {
	if len(out) == 0 {
		return nil, fmt.Errorf("data: no vectors in %s", path)
	}
	n := len(out[0].Inputs[0].Data)
	if i := slices.IndexFunc(out, func(s Sample) bool { return len(s.Inputs[0].Data) != n }); i >= 0 {
		return nil, fmt.Errorf("data: %s: %s has %d values, the first vector %d", path, out[i].Name, len(out[i].Inputs[0].Data), n)
	}
	return out, nil
}
