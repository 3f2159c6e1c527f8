package address

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.yaml.in/yaml/v3"
)

func parseConf(t *testing.T, fields []component.Field, src string) (*component.Config, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	node := &yaml.Node{Kind: yaml.MappingNode}
	if len(doc.Content) > 0 {
		node = doc.Content[0]
	}
	c, errs := component.Parse(fields, node, "p.yaml", "sources.s", nil)
	return c, errors.Join(errs...)
}

func topicSource(t *testing.T, src string) (Key, Time, error) {
	t.Helper()
	c, err := parseConf(t, []component.Field{KeyOption(true), TimeOption("", "the arrival time")}, src)
	if err != nil {
		return Key{}, Time{}, err
	}
	k, err := KeyFrom(c, "/")
	if err != nil {
		return k, Time{}, err
	}
	tm, err := TimeFrom(c)
	return k, tm, err
}

func TestOptionErrors(t *testing.T) {
	cases := []struct{ conf, want string }{
		{"key: {topic_token: 0}", "p.yaml:1:20: sources.s.key.topic_token: tokens count from 1"},
		{"key: {topic_token: 1, field: x}", "p.yaml:1:30: sources.s.key.field: give topic_token or field, not both"},
		{"key: {}", "p.yaml:1:6: sources.s.key: give topic_token or field"},
		{"key: {column: x}", `sources.s.key.column: unknown key`},
		{"time: {format: unix}", `missing required key "field"`},
		{"time: {field: ts, format: sometime}", `p.yaml:1:27: sources.s.time.format: "sometime" is not auto`},
	}
	for _, c := range cases {
		_, _, err := topicSource(t, c.conf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.conf, err, c.want)
		}
	}
}

// Every old spelling is rejected where it is written, with the new one.
func TestOldSpellingsRejected(t *testing.T) {
	fields := []component.Field{KeyOption(true), TimeOption("timestamp", "x")}
	cases := []struct{ conf, want string }{
		{"key_from_topic: 1", "p.yaml:1:1: sources.s.key_from_topic: key_from_topic is no longer accepted: write key: {topic_token: 2} (tokens now count from 1)"},
		{"key_token: -1", "key_token is no longer accepted: write key: {topic_token: -1}"},
		{"key_field: sensor", "key_field is no longer accepted: write key: {field: sensor}"},
		{"key_column: id", "key_column is no longer accepted: write key: {field: id}"},
		{"time_field: ts", "time_field is no longer accepted: write time: {field: ts}"},
		{"timestamp: ts", "timestamp is no longer accepted: write time: {field: ts}"},
		{"time_format: unix_ms", `time_format is no longer accepted: write time: {format: "unix_ms"}`},
	}
	for _, c := range cases {
		_, err := parseConf(t, fields, c.conf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.conf, err, c.want)
		}
	}
	// A source without topics has no topic_token to point to.
	if _, err := parseConf(t, []component.Field{KeyOption(false)}, "key_from_topic: 1"); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("key_from_topic on a source without topics: %v", err)
	}
}

func TestKeyApply(t *testing.T) {
	cases := []struct {
		conf, topic, want, err string
		fields                 map[string]any
	}{
		{conf: "key: {topic_token: 1}", topic: "plant/s1/temp", want: "plant"},
		{conf: "key: {topic_token: 2}", topic: "plant/s1/temp", want: "s1"},
		{conf: "key: {topic_token: 3}", topic: "plant/s1/temp", want: "temp"},
		{conf: "key: {topic_token: -1}", topic: "plant/s1/temp", want: "temp"},
		{conf: "key: {topic_token: -3}", topic: "plant/s1/temp", want: "plant"},
		{conf: "key: {topic_token: 2}", topic: "a//b", want: ""},
		{conf: "key: {topic_token: 4}", topic: "plant/s1/temp", err: `key.topic_token 4: topic "plant/s1/temp" has only 3 tokens`},
		{conf: "key: {topic_token: -4}", topic: "plant/s1/temp", err: "key.topic_token -4"},
		{conf: "key: {field: id}", fields: map[string]any{"id": "s9"}, want: "s9"},
		{conf: "key: {field: id}", fields: map[string]any{"id": 12.0}, want: "12"},
		{conf: "key: {field: id}", fields: map[string]any{"other": 1.0}, err: `key.field "id" is missing`},
		{conf: "key: {field: id}", fields: map[string]any{"id": nil}, err: `key.field "id" is missing`},
		{conf: "", topic: "a/b", want: "orig"},
	}
	for _, c := range cases {
		k, _, err := topicSource(t, c.conf)
		if err != nil {
			t.Fatalf("%q: %v", c.conf, err)
		}
		m := &pipeline.Message{Key: "orig", Topic: c.topic, Fields: c.fields}
		err = k.Apply(m)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q on %q: key %q, err %v; want error %q", c.conf, c.topic, m.Key, err, c.err)
			}
			continue
		}
		if err != nil || m.Key != c.want {
			t.Errorf("%q on %q %v: key %q, err %v; want %q", c.conf, c.topic, c.fields, m.Key, err, c.want)
		}
	}
	// NATS subjects split on dots.
	c, _ := parseConf(t, []component.Field{KeyOption(true)}, "key: {topic_token: -2}")
	k, _ := KeyFrom(c, ".")
	m := &pipeline.Message{Topic: "plant.sensors.s4.temp"}
	if err := k.Apply(m); err != nil || m.Key != "s4" {
		t.Errorf("subject token: %q, %v", m.Key, err)
	}
}

func TestTimeApply(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 250e6, time.UTC)
	cases := []struct {
		conf string
		v    any
		want time.Time
		err  string
	}{
		{conf: "time: {field: ts}", v: "2024-05-01T12:00:00.25Z", want: at},
		{conf: "time: {field: ts}", v: 1714564800.25, want: at},
		{conf: "time: {field: ts}", v: 1714564800250.0, want: at},
		{conf: "time: {field: ts}", v: "2024-05-01 12:00:00.25", want: at},
		{conf: "time: {field: ts, format: unix_ms}", v: "1714564800250", want: at},
		{conf: "time: {field: ts, format: unix}", v: 1714564800, want: at.Truncate(time.Second)},
		{conf: "time: {field: ts, format: '02/01/2006 15:04'}", v: "01/05/2024 12:00", want: at.Truncate(time.Second)},
		{conf: "time: {field: ts, format: '02/01/2006 15:04'}", v: 3.0, err: `time.field "ts": want text in the layout`},
		{conf: "time: {field: ts}", v: "noon", err: `time.field "ts": cannot parse time "noon"`},
		{conf: "time: {field: ts}", v: math.NaN(), err: `time.field "ts": NaN is not a finite Unix time`},
		{conf: "time: {field: ts}", v: true, err: `time.field "ts": want a time as text or a number, got bool`},
		{conf: "time: {field: ts}", err: `time.field "ts" is missing`},
	}
	for _, c := range cases {
		_, tm, err := topicSource(t, c.conf)
		if err != nil {
			t.Fatalf("%q: %v", c.conf, err)
		}
		m := &pipeline.Message{Fields: map[string]any{}}
		if c.v != nil {
			m.Fields["ts"] = c.v
		}
		err = tm.Apply(m)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q with %v: err %v, want %q", c.conf, c.v, err, c.err)
			}
			continue
		}
		if err != nil || !m.SourceTime.Equal(c.want) {
			t.Errorf("%q with %v: %v, %v; want %v", c.conf, c.v, m.SourceTime, err, c.want)
		}
	}
}

// With a default field, the option applies when absent, and a message
// without that field keeps its time; a field named explicitly must be there.
func TestTimeDefaultField(t *testing.T) {
	fields := []component.Field{TimeOption("timestamp", "x")}
	c, err := parseConf(t, fields, "")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := TimeFrom(c)
	if err != nil || tm.Field != "timestamp" || !tm.Optional {
		t.Fatalf("absent option: %+v, %v", tm, err)
	}
	m := &pipeline.Message{Fields: map[string]any{"value": 1.0}}
	if err := tm.Apply(m); err != nil || !m.SourceTime.IsZero() {
		t.Errorf("default field absent: %v, %v", m.SourceTime, err)
	}
	c, _ = parseConf(t, fields, "time: {field: timestamp}")
	tm, _ = TimeFrom(c)
	if err := tm.Apply(m); err == nil || !strings.Contains(err.Error(), `time.field "timestamp" is missing`) {
		t.Errorf("named field absent: %v", err)
	}
	c, _ = parseConf(t, fields, "time: {field: ''}")
	tm, _ = TimeFrom(c)
	if err := tm.Apply(m); err != nil || tm.Field != "" {
		t.Errorf("no time field: %+v, %v", tm, err)
	}
}
