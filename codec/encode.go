package codec

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/edgeflow/edgeflow/pipeline"
)

type jsonEncoder struct{}

func (jsonEncoder) Encode(m *pipeline.Message) ([]byte, error) {
	if m.Fields == nil {
		if len(m.Payload) > 0 && json.Valid(m.Payload) {
			return slices.Clone(m.Payload), nil
		}
		return nil, errors.New("json: message has no fields and its payload is not JSON (decode it first, or use the raw encoder)")
	}
	return AppendJSON(make([]byte, 0, 64+32*len(m.Fields)), m.Fields)
}

// AppendEncode appends what Encode returns to b.
func (jsonEncoder) AppendEncode(b []byte, m *pipeline.Message) ([]byte, error) {
	if m.Fields == nil {
		if len(m.Payload) > 0 && json.Valid(m.Payload) {
			return append(b, m.Payload...), nil
		}
		return b, errors.New("json: message has no fields and its payload is not JSON (decode it first, or use the raw encoder)")
	}
	return AppendJSON(b, m.Fields)
}

type envelopeEncoder struct{}

func (envelopeEncoder) Encode(m *pipeline.Message) ([]byte, error) {
	b := make([]byte, 0, 128+32*len(m.Fields)+len(m.Payload))
	b = append(b, '{')
	sep := func(name string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
	}
	if m.Key != "" {
		sep("key")
		b = appendString(b, m.Key)
	}
	if m.Topic != "" {
		sep("topic")
		b = appendString(b, m.Topic)
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"source_time", m.SourceTime}, {"ingest_time", m.IngestTime}} {
		if !t.t.IsZero() {
			sep(t.name)
			b, _ = AppendJSON(b, t.t)
		}
	}
	if len(m.Meta) > 0 {
		sep("meta")
		b, _ = AppendJSON(b, m.Meta)
	}
	if m.Fields != nil {
		sep("fields")
		var err error
		if b, err = AppendJSON(b, m.Fields); err != nil {
			return nil, fmt.Errorf("envelope: fields: %w", err)
		}
	} else if len(m.Payload) > 0 && utf8.Valid(m.Payload) {
		sep("payload")
		b = appendString(b, string(m.Payload))
	} else if len(m.Payload) > 0 {
		// Not text: base64 keeps every byte, where a JSON string would
		// turn the invalid ones into U+FFFD.
		sep("payload_base64")
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, m.Payload)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// AppendJSON appends v as JSON to b. It is encoding/json with the changes
// sensors need: NaN and ±Inf are null instead of an error, []float32 keeps
// float32 precision, map keys are sorted, and time.Time is RFC 3339 in UTC
// with nanoseconds. Types it does not know go through encoding/json.
func AppendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x), nil
	case float64:
		return appendFloat(b, x, 64), nil
	case float32:
		return appendFloat(b, float64(x), 32), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	case time.Duration:
		return appendString(b, x.String()), nil
	case []float32:
		b = append(b, '[')
		for i, f := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, float64(f), 32)
		}
		return append(b, ']'), nil
	case []float64:
		b = append(b, '[')
		for i, f := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, f, 64)
		}
		return append(b, ']'), nil
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = AppendJSON(b, e); err != nil {
				return b, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		return appendObject(b, x, AppendJSON)
	case map[string]string:
		return appendObject(b, x, func(b []byte, v string) ([]byte, error) { return appendString(b, v), nil })
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, fmt.Errorf("cannot encode %T as JSON: %w", v, err)
	}
	return append(b, enc...), nil
}

// appendObject writes m as a JSON object with sorted keys, so that equal
// messages encode to equal bytes.
func appendObject[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	// Readings have a handful of fields: sort their names on the stack.
	var few [16]string
	keys := few[:0]
	if len(m) > len(few) {
		keys = make([]string, 0, len(m))
	}
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = value(b, m[k]); err != nil {
			return b, fmt.Errorf("%s: %w", k, err)
		}
	}
	return append(b, '}'), nil
}

// appendFloat formats like encoding/json, with null for NaN and ±Inf.
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		fmtc = 'e'
	}
	b = strconv.AppendFloat(b, f, fmtc, -1, bits)
	if fmtc == 'e' {
		// Shorten e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
