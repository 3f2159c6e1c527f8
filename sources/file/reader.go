package file

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// row is one line of a file: a message, or a bad row to dead-letter.
type row struct {
	m   *pipeline.Message
	bad error // with file:line
	ts  time.Time
}

// reader yields the rows of one file in order.
type reader interface {
	// next returns the next row; io.EOF at the end. Other errors end the
	// file (it cannot be read further).
	next() (row, error)
	close() error
}

// open starts reading path in the source's format.
func (s *Source) open(path string) (reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	key := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	format := s.format
	if format == "auto" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		default:
			format = "csv"
		}
	}
	if format == "jsonl" {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
		return &jsonReader{s: s, f: f, sc: sc, path: path, key: key}, nil
	}
	r, err := s.newCSVReader(f, path, key)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

type csvReader struct {
	s      *Source
	f      *os.File
	r      *csv.Reader
	path   string
	key    string
	header []string
	tsCol  int    // -1: none
	keyCol int    // -1: file name
	cols   []int  // columns emitted as fields
	isText []bool // per column: keep as string
}

func (s *Source) newCSVReader(f *os.File, path, key string) (*csvReader, error) {
	r := csv.NewReader(bufio.NewReaderSize(f, 64*1024))
	r.Comma = s.delimiter
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	head, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("empty file: no header row")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	c := &csvReader{s: s, f: f, r: r, path: path, key: key, tsCol: -1, keyCol: -1}
	c.header = make([]string, len(head))
	for i, h := range head {
		c.header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	index := func(name string) int {
		for i, h := range c.header {
			if h == name {
				return i
			}
		}
		return -1
	}
	if s.time.Field != "" {
		c.tsCol = index(s.time.Field)
		if c.tsCol < 0 && !s.time.Optional {
			return nil, fmt.Errorf("no time column %q in header %v", s.time.Field, c.header)
		}
	}
	if s.key.Field != "" {
		if c.keyCol = index(s.key.Field); c.keyCol < 0 {
			return nil, fmt.Errorf("no key column %q in header %v", s.key.Field, c.header)
		}
	}
	if len(s.values) > 0 {
		for _, v := range s.values {
			i := index(v)
			if i < 0 {
				return nil, fmt.Errorf("no value column %q in header %v", v, c.header)
			}
			c.cols = append(c.cols, i)
		}
	} else {
		for i := range c.header {
			if i != c.tsCol && i != c.keyCol {
				c.cols = append(c.cols, i)
			}
		}
	}
	c.isText = make([]bool, len(c.header))
	for i, h := range c.header {
		c.isText[i] = s.strings[h]
	}
	return c, nil
}

func (c *csvReader) next() (row, error) {
	rec, err := c.r.Read()
	line, _ := c.r.FieldPos(0)
	var perr *csv.ParseError
	switch {
	case err == io.EOF:
		return row{}, io.EOF
	case errors.As(err, &perr):
		return c.badRow(perr.StartLine, perr.Err, rec), nil
	case err != nil:
		return row{}, err
	}
	if len(rec) != len(c.header) {
		return c.badRow(line, fmt.Errorf("%d columns, the header has %d", len(rec), len(c.header)), rec), nil
	}
	m := &pipeline.Message{Key: c.key, Topic: c.path, Fields: make(map[string]any, len(c.cols)+2)}
	for _, i := range c.cols {
		cell := strings.TrimSpace(rec[i])
		if c.isText[i] {
			m.Fields[c.header[i]] = cell
			continue
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return c.badRow(line, fmt.Errorf("column %q: %q is not a number", c.header[i], cell), rec), nil
		}
		m.Fields[c.header[i]] = v
	}
	// The key and time columns not emitted as fields are put in only for
	// the source's key and time options to read.
	var extra [2]string
	for n, col := range [2]int{c.keyCol, c.tsCol} {
		if col >= 0 {
			if _, emitted := m.Fields[c.header[col]]; !emitted {
				m.Fields[c.header[col]] = strings.TrimSpace(rec[col])
				extra[n] = c.header[col]
			}
		}
	}
	err = c.s.address(m)
	for _, name := range extra {
		if name != "" {
			delete(m.Fields, name)
		}
	}
	if err != nil {
		return c.badRow(line, err, rec), nil
	}
	return row{m: m, ts: m.SourceTime}, nil
}

func (c *csvReader) badRow(line int, err error, rec []string) row {
	m := &pipeline.Message{Key: c.key, Topic: c.path, Payload: []byte(strings.Join(rec, ","))}
	return row{m: m, bad: fmt.Errorf("%s:%d: %w", c.path, line, err)}
}

func (c *csvReader) close() error { return c.f.Close() }

type jsonReader struct {
	s    *Source
	f    *os.File
	sc   *bufio.Scanner
	path string
	key  string
	line int
}

func (j *jsonReader) next() (row, error) {
	for {
		if !j.sc.Scan() {
			if err := j.sc.Err(); err != nil {
				return row{}, fmt.Errorf("%s:%d: %w", j.path, j.line+1, err)
			}
			return row{}, io.EOF
		}
		j.line++
		if len(bytes.TrimSpace(j.sc.Bytes())) > 0 {
			break
		}
	}
	raw := j.sc.Bytes()
	bad := func(err error) (row, error) {
		m := &pipeline.Message{Key: j.key, Topic: j.path, Payload: bytes.Clone(raw)}
		return row{m: m, bad: fmt.Errorf("%s:%d: %w", j.path, j.line, err)}, nil
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return bad(fmt.Errorf("not a JSON object: %w", err))
	}
	if fields == nil {
		return bad(errors.New("not a JSON object: null"))
	}
	m := &pipeline.Message{Key: j.key, Topic: j.path, Fields: fields}
	if err := j.s.address(m); err != nil {
		return bad(err)
	}
	if tf := j.s.time.Field; tf != "" {
		delete(fields, tf) // it is the source time now
	}
	return row{m: m, ts: m.SourceTime}, nil
}

func (j *jsonReader) close() error { return j.f.Close() }

// address sets a row's key and source time from its fields, as every
// source does.
func (s *Source) address(m *pipeline.Message) error {
	if err := s.key.Apply(m); err != nil {
		return err
	}
	return s.time.Apply(m)
}
