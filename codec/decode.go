package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/edgeflow/edgeflow/pipeline"
)

type jsonDecoder struct{}

func (d jsonDecoder) Decode(payload []byte, m *pipeline.Message) error {
	return d.DecodeInto(payload, m, nil)
}

// DecodeInto implements FillDecoder; a nil fields makes a new map.
func (jsonDecoder) DecodeInto(payload []byte, m *pipeline.Message, fields map[string]any) error {
	if flat, ok := decodeFlatJSON(payload, fields); ok {
		m.Fields = flat
		return nil
	}
	clear(fields) // what the fast path filled before it gave up
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if obj, ok := v.(map[string]any); ok {
		m.Fields = obj
		return nil
	}
	m.Fields = map[string]any{"value": v}
	return nil
}

// CSVDecoder decodes one CSV record per payload.
type CSVDecoder struct {
	header []string
}

// NewCSVDecoder returns a csv decoder whose columns are named by header;
// columns past the header are named colN (N counting from 0). With no
// header every column is colN, and a single-column record is "value".
func NewCSVDecoder(header []string) *CSVDecoder {
	return &CSVDecoder{header: header}
}

// Decode implements Decoder.
func (d *CSVDecoder) Decode(payload []byte, m *pipeline.Message) error {
	payload = bytes.TrimRight(payload, "\r\n")
	if len(bytes.TrimSpace(payload)) == 0 {
		return errors.New("csv: empty payload")
	}
	r := csv.NewReader(bytes.NewReader(payload))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	rec, err := r.Read()
	if err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	if _, err := r.Read(); err != io.EOF {
		return errors.New("csv: payload holds more than one record")
	}
	fields := make(map[string]any, len(rec))
	if len(rec) == 1 && len(d.header) == 0 {
		fields["value"] = CSVValue(rec[0])
		m.Fields = fields
		return nil
	}
	for i, s := range rec {
		name := "col" + strconv.Itoa(i)
		if i < len(d.header) {
			name = d.header[i]
		}
		fields[name] = CSVValue(s)
	}
	m.Fields = fields
	return nil
}

// CSVValue is how a CSV cell becomes a field: a float64 when it parses as a
// number, else the string (with surrounding spaces trimmed).
func CSVValue(s string) any {
	s = trimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

type float32Decoder struct{}

func (float32Decoder) Decode(payload []byte, m *pipeline.Message) error {
	if len(payload) == 0 {
		return errors.New("float32le: empty payload")
	}
	if len(payload)%4 != 0 {
		return fmt.Errorf("float32le: payload of %d bytes is not a multiple of 4", len(payload))
	}
	vals := make([]float32, len(payload)/4)
	for i := range vals {
		vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[4*i:]))
	}
	m.Fields = map[string]any{"values": vals}
	return nil
}
