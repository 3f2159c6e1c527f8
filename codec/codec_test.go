package codec

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

func decode(t *testing.T, name string, payload string) (map[string]any, error) {
	t.Helper()
	d, err := NewDecoder(name)
	if err != nil {
		t.Fatal(err)
	}
	m := pipeline.NewMessage([]byte(payload))
	err = d.Decode(m.Payload, m)
	return m.Fields, err
}

func TestJSONDecode(t *testing.T) {
	f, err := decode(t, "json", `{"sensor":"t1","value":21.5,"ok":true}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sensor": "t1", "value": 21.5, "ok": true}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got %v, want %v", f, want)
	}
	f, err = decode(t, "json", ` 42 `)
	if err != nil || f["value"] != 42.0 {
		t.Fatalf("scalar: got %v, %v", f, err)
	}
	for _, bad := range []string{``, `{`, `{"a":1}x`, `nul`} {
		if _, err := decode(t, "json", bad); err == nil {
			t.Errorf("%q decoded without error", bad)
		}
	}
}

func TestRawDecode(t *testing.T) {
	f, err := decode(t, "raw", "hello")
	if err != nil || f["value"] != "hello" {
		t.Fatalf("got %v, %v", f, err)
	}
}

func TestCSVDecode(t *testing.T) {
	f, err := decode(t, "csv", "3.5\n")
	if err != nil || !reflect.DeepEqual(f, map[string]any{"value": 3.5}) {
		t.Fatalf("single column: got %v, %v", f, err)
	}
	f, err = decode(t, "csv", `a, 2,"x,y"`)
	if err != nil || !reflect.DeepEqual(f, map[string]any{"col0": "a", "col1": 2.0, "col2": "x,y"}) {
		t.Fatalf("no header: got %v, %v", f, err)
	}
	m := &pipeline.Message{}
	if err := NewCSVDecoder([]string{"ts", "value"}).Decode([]byte("2024-01-01,7,extra\r\n"), m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Fields, map[string]any{"ts": "2024-01-01", "value": 7.0, "col2": "extra"}) {
		t.Fatalf("header: got %v", m.Fields)
	}
	for _, bad := range []string{"", "  \n", "a\nb", `"unterminated`} {
		if _, err := decode(t, "csv", bad); err == nil {
			t.Errorf("%q decoded without error", bad)
		}
	}
}

func TestFloat32Decode(t *testing.T) {
	in := []float32{1, -2.5, float32(math.Inf(1))}
	buf := make([]byte, 12)
	for i, v := range in {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	f, err := decode(t, "float32le", string(buf))
	if err != nil || !reflect.DeepEqual(f["values"], in) {
		t.Fatalf("got %v, %v", f, err)
	}
	if _, err := decode(t, "float32le", "abcde"); err == nil || !strings.Contains(err.Error(), "multiple of 4") {
		t.Fatalf("5 bytes: err = %v", err)
	}
	if _, err := decode(t, "float32le", ""); err == nil {
		t.Fatal("empty payload decoded")
	}
}

func TestUnknownNames(t *testing.T) {
	if _, err := NewDecoder("xml"); err == nil || !strings.Contains(err.Error(), "json") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewEncoder("csv"); err == nil {
		t.Fatal("csv encoder exists?")
	}
}

func TestJSONEncode(t *testing.T) {
	enc, _ := NewEncoder("json")
	ts := time.Date(2024, 5, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))
	m := &pipeline.Message{Fields: map[string]any{
		"window": []float32{1.5, float32(math.NaN()), 0.1},
		"score":  math.Inf(-1),
		"v":      1e-9,
		"n":      7,
		"s":      "a\"b\n\x01\xff<",
		"t":      ts,
		"nested": map[string]any{"z": []any{1.0, nil, true}},
		"meta":   map[string]string{"b": "2", "a": "1"},
		"odd":    struct{ A int }{3},
	}}
	out, err := enc.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"meta":{"a":"1","b":"2"},"n":7,"nested":{"z":[1,null,true]},"odd":{"A":3},"s":"a\"b\n\u0001\ufffd<","score":null,"t":"2024-05-01T11:00:00.000000005Z","v":1e-9,"window":[1.5,null,0.1]}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if !json.Valid(out) {
		t.Fatal("invalid JSON")
	}
	// Unencodable values are errors, naming the field.
	_, err = enc.Encode(&pipeline.Message{Fields: map[string]any{"ch": make(chan int)}})
	if err == nil || !strings.Contains(err.Error(), "ch") {
		t.Fatalf("err = %v", err)
	}
	// No fields: a JSON payload passes through, anything else is an error.
	out, err = enc.Encode(&pipeline.Message{Payload: []byte(`{"a":1}`)})
	if err != nil || string(out) != `{"a":1}` {
		t.Fatalf("passthrough: %s, %v", out, err)
	}
	if _, err := enc.Encode(&pipeline.Message{Payload: []byte("x")}); err == nil {
		t.Fatal("non-JSON payload without fields encoded")
	}
}

func TestEnvelopeEncode(t *testing.T) {
	enc, _ := NewEncoder("envelope")
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out, err := enc.Encode(&pipeline.Message{Key: "k", SourceTime: ts, Meta: map[string]string{"e": "x"},
		Fields: map[string]any{"v": 1.5}})
	want := `{"key":"k","source_time":"2024-01-01T00:00:00Z","meta":{"e":"x"},"fields":{"v":1.5}}`
	if err != nil || string(out) != want {
		t.Fatalf("got %s, %v\nwant %s", out, err, want)
	}
	out, _ = enc.Encode(&pipeline.Message{Topic: "t", Payload: []byte("a\"b")})
	if want := `{"topic":"t","payload":"a\"b"}`; string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
	// Bytes that are not UTF-8 survive as base64 (a dead letter keeps them).
	out, _ = enc.Encode(&pipeline.Message{Payload: []byte{0xff, 0x01}})
	if want := `{"payload_base64":"/wE="}`; string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
}

func TestRawEncode(t *testing.T) {
	enc, _ := NewEncoder("raw")
	p := []byte("abc")
	out, err := enc.Encode(&pipeline.Message{Payload: p})
	if err != nil || string(out) != "abc" {
		t.Fatalf("%s %v", out, err)
	}
	out[0] = 'x'
	if p[0] != 'a' {
		t.Fatal("raw encoder returned the payload itself, not a copy")
	}
}

// The decoders must never panic (the csv decoder with a header too, as the
// file source builds it); whatever a decoder gives, every encoder takes
// (fields are there, so json too), and what json and envelope
// write is valid JSON.
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `1`, `"s"`, `[1,2]`, "a,b,1\n", `"x""y",2`, "\x00\x00\x80\x3f", "", "\xff"} {
		f.Add([]byte(s))
	}
	type named struct {
		name string
		dec  Decoder
	}
	var decs []named
	for _, name := range DecoderNames() {
		d, err := NewDecoder(name)
		if err != nil {
			f.Fatal(err)
		}
		decs = append(decs, named{name, d})
	}
	decs = append(decs, named{"csv with header", NewCSVDecoder([]string{"a", "b"})})
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, d := range decs {
			m := &pipeline.Message{Payload: payload}
			if err := d.dec.Decode(payload, m); err != nil {
				continue
			}
			for _, ename := range EncoderNames() {
				enc, _ := NewEncoder(ename)
				out, err := enc.Encode(m)
				switch {
				case err != nil: // a decoded message has fields: json takes it too
					t.Fatalf("%s decoded %q to %v, which %s does not encode: %v", d.name, payload, m.Fields, ename, err)
				case ename != "raw" && !json.Valid(out):
					t.Fatalf("%s then %s: invalid JSON %q from %q", d.name, ename, out, payload)
				}
			}
		}
	})
}

// Encoders never panic; envelope and raw encode every message, whatever its
// payload bytes (a dead letter must always be storable), and envelope's
// output is JSON.
func FuzzEncoders(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "garbage", "\xff\xfe", "", `{"seq": 1, "x": [1, "y", null]}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, payload []byte, decode bool) {
		m := &pipeline.Message{Payload: payload, Key: "k", Meta: map[string]string{"e": string(payload)}}
		if decode {
			_ = decodeJSON(payload, m)
		}
		for _, name := range EncoderNames() {
			enc, _ := NewEncoder(name)
			out, err := enc.Encode(m)
			if name == "json" {
				continue // refuses a payload without fields that is not JSON
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if name == "envelope" && !json.Valid(out) {
				t.Fatalf("envelope wrote invalid JSON: %s", out)
			}
		}
	})
}

func decodeJSON(payload []byte, m *pipeline.Message) error {
	dec, _ := NewDecoder("json")
	return dec.Decode(payload, m)
}
