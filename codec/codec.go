// Package codec turns message payloads into fields and back.
//
// A Decoder fills Message.Fields from a payload (sources and the decode stage
// use it); an Encoder renders a message as bytes for a sink. Codecs are
// chosen by name in pipeline YAML, so the names here are part of the config
// language: json, raw, csv and float32le decode; json and raw encode.
//
// Decoders and encoders are safe for concurrent use and never panic on bad
// input: a payload that does not decode is an error, which the caller turns
// into a dead letter.
package codec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
)

// Decoder fills m.Fields from payload. It replaces m.Fields and leaves the
// rest of m, including m.Payload, alone.
type Decoder interface {
	Decode(payload []byte, m *pipeline.Message) error
}

// FillDecoder is a Decoder that can fill a map its caller reuses: a source
// that recycles its settled messages (the mqtt source) hands each one's
// map back, cleared, which spares the map's allocations per message.
type FillDecoder interface {
	Decoder
	// DecodeInto is Decode with fields, which must be empty, as m.Fields.
	// A payload whose fields cannot go there (json: anything but a flat
	// object) gets a map of its own, and fields is left empty.
	DecodeInto(payload []byte, m *pipeline.Message, fields map[string]any) error
}

// Encoder renders m as the bytes a sink writes. The result is owned by the
// caller.
type Encoder interface {
	Encode(m *pipeline.Message) ([]byte, error)
}

// AppendEncoder is an Encoder that can append its output to a buffer the
// caller reuses, saving an allocation per message on a sink's hot path.
type AppendEncoder interface {
	Encoder
	AppendEncode(b []byte, m *pipeline.Message) ([]byte, error)
}

// DecoderNames lists the names NewDecoder accepts.
func DecoderNames() []string { return []string{"csv", "float32le", "json", "raw"} }

// EncoderNames lists the names NewEncoder accepts.
func EncoderNames() []string { return []string{"envelope", "json", "raw"} }

// NewDecoder returns the decoder called name:
//
//   - json: a JSON object becomes Fields (numbers are float64); any other JSON
//     value (a bare number, string, array) becomes Fields["value"].
//   - raw: Fields["value"] is the payload as a string.
//   - csv: one CSV record; numeric columns become float64, others strings.
//     Columns are named col0..colN (use NewCSVDecoder to name them); a record
//     of a single column is Fields["value"].
//   - float32le: packed little-endian float32 values become
//     Fields["values"] as []float32.
func NewDecoder(name string) (Decoder, error) {
	switch name {
	case "json":
		return jsonDecoder{}, nil
	case "raw":
		return rawDecoder{}, nil
	case "csv":
		return NewCSVDecoder(nil), nil
	case "float32le":
		return float32Decoder{}, nil
	}
	return nil, fmt.Errorf("unknown decoder %q (want one of %s)", name, strings.Join(DecoderNames(), ", "))
}

// NewEncoder returns the encoder called name:
//
//   - json: Fields as one JSON object with sorted keys. []float32 and
//     []float64 become arrays, time.Time an RFC 3339 string, and NaN or
//     ±Inf become null so that one bad reading cannot break a sink. A
//     message without Fields is written as its payload when that is valid
//     JSON, and is an error otherwise.
//   - envelope: the whole message as one JSON object: key, topic,
//     source_time, ingest_time, meta and fields (empty ones left out), plus
//     the payload as a string when the message has no fields. Used for
//     logs and dead letters, where the context matters.
//   - raw: the payload as is.
func NewEncoder(name string) (Encoder, error) {
	switch name {
	case "envelope":
		return envelopeEncoder{}, nil
	case "json":
		return jsonEncoder{}, nil
	case "raw":
		return rawEncoder{}, nil
	}
	return nil, fmt.Errorf("unknown encoder %q (want one of %s)", name, strings.Join(EncoderNames(), ", "))
}

// DecoderSchema is what the decoder called name says of the fields of
// the messages it fills: raw and float32le always give the same one field;
// what json and csv give depends on the payload, so it is unknown.
func DecoderSchema(name string) schema.Schema {
	switch name {
	case "raw":
		return schema.Schema{Closed: true, From: "from the raw codec", Fields: map[string]schema.Type{"value": schema.String}}
	case "float32le":
		return schema.Schema{Closed: true, From: "from the float32le codec", Fields: map[string]schema.Type{"values": schema.Floats}}
	}
	return schema.Unknown()
}

// IsDecoder reports whether name is a known decoder; config validation uses
// it for error messages before building anything.
func IsDecoder(name string) bool { return slices.Contains(DecoderNames(), name) }

// IsEncoder reports whether name is a known encoder.
func IsEncoder(name string) bool { return slices.Contains(EncoderNames(), name) }

type rawDecoder struct{}

func (d rawDecoder) Decode(payload []byte, m *pipeline.Message) error {
	return d.DecodeInto(payload, m, make(map[string]any, 1))
}

func (rawDecoder) DecodeInto(payload []byte, m *pipeline.Message, fields map[string]any) error {
	fields["value"] = string(payload)
	m.Fields = fields
	return nil
}

type rawEncoder struct{}

func (rawEncoder) Encode(m *pipeline.Message) ([]byte, error) {
	return slices.Clone(m.Payload), nil
}
