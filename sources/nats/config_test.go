package nats_test

import (
	"strings"
	"testing"
)

func TestSourceConfigErrors(t *testing.T) {
	conn := startConn(t, "url: embedded\nembedded_listen: off\nstore_dir: "+t.TempDir())
	cases := []struct{ conf, want string }{
		{"subjects: [a..b]", "empty token"},
		{"subjects: [a.>.b]", "must be the last"},
		{"subjects: [a.b*]", "whole tokens"},
		{"subjects: [a]\nkey: {topic_token: 1, field: x}", "not both"},
		{"subjects: [a]\nkey: {topic_token: 0}", "count from 1"},
		{"subjects: [a]\nqueue: q\njetstream: {stream: S}", "queue applies to core"},
		{"subjects: [a]\njetstream: {stream: a.b}", "stream name"},
		{"subjects: [a]\njetstream: {stream: S, durable: 'x y'}", "durable name"},
		{"subjects: [a]\njetstream: {stream: S, ack_wait: 10ms}", "at least 1s"},
		{"subjects: [a]\njetstream: {stream: S, max_ack_pending: 10, max_in_flight: 11}", "above max_ack_pending 10"},
	}
	for _, c := range cases {
		_, err := newSource(t, conn, c.conf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.conf, err, c.want)
		}
	}
	if _, err := newSource(t, conn, "subjects: [plant.*.temp, plant.>]\njetstream: {stream: S}"); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}
