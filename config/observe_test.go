package config

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type reloadable struct {
	reloads int
	err     error
	col     prometheus.Collector
}

func (r *reloadable) Reload() error                 { r.reloads++; return r.err }
func (r *reloadable) Metrics() prometheus.Collector { return r.col }

func TestBuiltCollectorsAndReload(t *testing.T) {
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "conn_total"})
	good := &reloadable{col: prometheus.NewCounter(prometheus.CounterOpts{Name: "stage_total"})}
	bad := &reloadable{err: errors.New("corrupt model")}
	b := &Built{
		Components: map[string]any{"a": good, "b": bad, "c": "not a component with extras"},
		conns:      []namedConn{{name: "plant", conn: counterConn{counter}}},
	}
	if got := b.Collectors(); len(got) != 2 {
		t.Fatalf("got %d collectors, want the connection's and the stage's (a nil one skipped)", len(got))
	}
	err := b.Reload()
	if good.reloads != 1 || bad.reloads != 1 {
		t.Fatalf("reloads %d and %d, want 1 each", good.reloads, bad.reloads)
	}
	if err == nil || err.Error() != "b: corrupt model" {
		t.Fatalf("Reload error %v, want the failing component named", err)
	}
}

// counterConn is a connection that is also a collector, like mqtt.Conn.
type counterConn struct{ prometheus.Counter }

func (counterConn) Close(context.Context) error { return nil }
