package address_test

import (
	"context"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/config"
	_ "github.com/edgeflow/edgeflow/sinks/mqtt"
	_ "github.com/edgeflow/edgeflow/sinks/nats"
	_ "github.com/edgeflow/edgeflow/sources/file"
	_ "github.com/edgeflow/edgeflow/sources/mqtt"
	_ "github.com/edgeflow/edgeflow/sources/nats"
	"github.com/rs/zerolog"
)

// validate does what `edgeflow validate` does: parse, then build dry.
func validate(t *testing.T, yaml string) []string {
	t.Helper()
	f, err := config.Parse([]byte(yaml), "p.yaml")
	if err == nil {
		var b *config.Built
		if b, err = f.Build(context.Background(), config.BuildOptions{Logger: zerolog.Nop(), DryRun: true}); err == nil {
			if err := b.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			return nil
		}
	}
	return strings.Split(err.Error(), "\n")
}

const conns = `name: p
connections:
  plant: {type: mqtt, url: "tcp://127.0.0.1:1", client_id: x}
  bus: {type: nats, url: "nats://127.0.0.1:1"}
`

// Every old spelling of an address option fails `validate` at its line and
// column, with the new spelling.
func TestValidateRejectsOldSpellings(t *testing.T) {
	got := validate(t, conns+`sources:
  m:
    type: mqtt
    connection: plant
    topics: [plant/+/reading]
    key_from_topic: 1
    time_field: ts
  n:
    type: nats
    connection: bus
    subjects: [plant.>]
    key_token: 2
    key_field: sensor
  f:
    type: file
    path: x.csv
    timestamp: when
    time_format: unix
    key_column: id
sinks:
  out:
    type: mqtt
    input: [m, n, f]
    connection: plant
    topic: alerts/{{.key}}
`)
	want := []string{
		"p.yaml:10:5: sources.m.key_from_topic: key_from_topic is no longer accepted: write key: {topic_token: 2} (tokens now count from 1)",
		"p.yaml:11:5: sources.m.time_field: time_field is no longer accepted: write time: {field: ts}",
		"p.yaml:16:5: sources.n.key_token: key_token is no longer accepted: write key: {topic_token: 2}",
		"p.yaml:17:5: sources.n.key_field: key_field is no longer accepted: write key: {field: sensor}",
		"p.yaml:21:5: sources.f.timestamp: timestamp is no longer accepted: write time: {field: when}",
		`p.yaml:22:5: sources.f.time_format: time_format is no longer accepted: write time: {format: "unix"}`,
		"p.yaml:23:5: sources.f.key_column: key_column is no longer accepted: write key: {field: id}",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The sink's template is checked when it is built, which the errors
	// above stop before.
	got = validate(t, conns+`sources:
  m: {type: mqtt, connection: plant, topics: [a/#]}
sinks:
  out:
    type: mqtt
    input: m
    connection: plant
    topic: alerts/{{.key}}/{{.fields.kind}}
`)
	if len(got) != 1 || got[0] != `p.yaml:12:12: sinks.out.topic: "alerts/{{.key}}/{{.fields.kind}}": Go template syntax {{...}} is no longer accepted: write "alerts/{key}/{fields.kind}"` {
		t.Errorf("got %q", got)
	}
}

func TestValidateTemplates(t *testing.T) {
	got := validate(t, conns+`sources:
  m:
    type: mqtt
    connection: plant
    topics: [plant/+/reading]
    key: {topic_token: 2}
sinks:
  a: {type: mqtt, input: m, connection: plant, topic: "alerts/{kye}"}
  b: {type: mqtt, input: m, connection: plant, topic: "alerts/+/{key}"}
  c: {type: nats, input: m, connection: bus, subject: "alerts.{fields.x"}
  d: {type: nats, input: m, connection: bus, subject: "alerts..{key}"}
  e: {type: nats, input: m, connection: bus, subject: "alerts.{key}", msg_id: "{meta}"}
  ok1: {type: mqtt, input: m, connection: plant, topic: "alerts/{key}/{fields.kind}"}
  ok2: {type: nats, input: m, connection: bus, subject: "alerts.{key}", msg_id: "{meta.nats_stream}-{meta.nats_stream_seq}"}
`)
	want := []string{
		`p.yaml:12:55: sinks.a.topic: "alerts/{kye}": unknown placeholder {kye} (did you mean "key"?) (want {key}, {topic}, {fields.NAME} and {meta.NAME})`,
		`p.yaml:13:55: sinks.b.topic: "alerts/+/{key}" (with its placeholders filled): topic "alerts/+/x": + and # are for subscriptions, not publishing`,
		`p.yaml:14:55: sinks.c.subject: "alerts.{fields.x": unclosed '{' at byte 8`,
		`p.yaml:15:55: sinks.d.subject: "alerts..{key}" (with its placeholders filled): subject "alerts..x" has an empty token`,
		`p.yaml:16:79: sinks.e.msg_id: "{meta}": unknown placeholder {meta} (want {key}, {topic}, {fields.NAME} and {meta.NAME})`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
