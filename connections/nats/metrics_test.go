package nats_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/component"
	natsconn "github.com/edgeflow/edgeflow/connections/nats"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// Two nats connections register their metrics in one registry, as
// `edgeflow run` does, and each has its own series.
func TestTwoConnectionsRegisterMetrics(t *testing.T) {
	spec, _ := component.LookupConnection("nats")
	reg := prometheus.NewRegistry()
	for _, name := range []string{"plant", "cloud"} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("url: nats://127.0.0.1:1"), &doc); err != nil {
			t.Fatal(err)
		}
		conf, errs := component.Parse(spec.Fields, doc.Content[0], "test.yaml", "connections."+name, map[string]bool{"type": true})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		c, err := natsconn.New(conf, &component.Resources{Logger: zerolog.Nop(), Node: name, Pipeline: "p"})
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(c); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "edgeflow_nats_reconnects_total" && len(mf.GetMetric()) != 2 {
			t.Fatalf("reconnects series = %d, want one per connection", len(mf.GetMetric()))
		}
	}
}
