package file

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
)

// What `edgeflow validate` reads of the files to learn their fields: the
// header and first rows of a CSV file (whose types the options fix: numbers
// unless listed in `strings`), the first lines of a JSON Lines file (whose
// types are those of the values found).
const (
	sampleFiles = 64
	sampleRows  = 1000
)

// fileSchema samples the files the source would replay. Files that do not
// exist yet make the fields unknown, not an error: they may be written
// before the pipeline runs.
func fileSchema(conf *component.Config, _ schema.Schema, res *component.Resources) (schema.Schema, error) {
	v, err := newSource(conf, res)
	if err != nil {
		return schema.Unknown(), nil // the constructor reports it
	}
	s := v.(*Source)
	paths, err := filepath.Glob(s.pattern)
	if err != nil || len(paths) == 0 {
		return schema.Unknown(), nil
	}
	slices.Sort(paths)
	var all []schema.Schema
	for i, path := range paths {
		if i == sampleFiles {
			all = append(all, schema.Unknown()) // not sampled: anything
			break
		}
		name := path
		if rel, err := filepath.Rel(res.Dir, path); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
		fs, err := s.sample(path, name)
		if err != nil {
			return schema.Unknown(), conf.Errorf("path", "%s: %v", name, err)
		}
		all = append(all, fs)
	}
	return schema.Merge(all...), nil
}

// sample returns the fields of the rows of one file.
func (s *Source) sample(path, name string) (schema.Schema, error) {
	r, err := s.open(path)
	if err != nil {
		return schema.Unknown(), err
	}
	defer r.close()
	if c, ok := r.(*csvReader); ok {
		return c.sample(name)
	}
	out := schema.Schema{Closed: true, Fields: map[string]schema.Type{},
		From: fmt.Sprintf("from the first %d lines of %s", sampleRows, name)}
	good := 0
	nulls := map[string]bool{}
	for range sampleRows {
		row, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return schema.Unknown(), err
		}
		if row.bad != nil {
			continue // dead-lettered at run time, one row at a time
		}
		good++
		for k, v := range row.m.Fields {
			if v == nil { // a null says nothing of the type
				nulls[k] = true
				continue
			}
			t := schema.Of(v)
			if prev, seen := out.Fields[k]; seen && prev != t {
				t = schema.Any // values of two types
			}
			out.Fields[k] = t
		}
	}
	for k := range nulls {
		if _, seen := out.Fields[k]; !seen {
			out.Fields[k] = schema.Any
		}
	}
	if good == 0 {
		return schema.Unknown(), nil
	}
	return out, nil
}

// sample returns the fields of a CSV file's rows, and refuses a column
// that must hold numbers but holds none in the first rows: every row would
// be dead-lettered.
func (c *csvReader) sample(name string) (schema.Schema, error) {
	out := schema.Schema{Closed: true, Fields: map[string]schema.Type{}, From: "from the header of " + name}
	text := map[int]string{} // numeric column -> a cell that is not a number
	for _, i := range c.cols {
		t := schema.Float
		if c.isText[i] {
			t = schema.String
		} else {
			text[i] = ""
		}
		out.Fields[c.header[i]] = t
	}
	rows := 0
	for rows < sampleRows && len(text) > 0 {
		rec, err := c.r.Read()
		if err == io.EOF {
			break
		}
		if err != nil || len(rec) != len(c.header) {
			continue
		}
		rows++
		for i := range text {
			cell := strings.TrimSpace(rec[i])
			if _, err := strconv.ParseFloat(cell, 64); err == nil {
				delete(text, i)
			} else if text[i] == "" {
				text[i] = cell
			}
		}
	}
	if rows > 0 {
		for _, i := range c.cols {
			if cell, bad := text[i]; bad {
				return out, fmt.Errorf("column %q holds no number in its first %d rows (%q): list it in `strings` to keep it as text", c.header[i], rows, cell)
			}
		}
	}
	return out, nil
}
