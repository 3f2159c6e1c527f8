// Package deploy holds the files that deploy edgeflow next to its brokers
// and monitoring (Prometheus, Grafana); its test checks that the Grafana
// dashboard only asks for metrics edgeflow exports.
package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`edgeflow_[a-z0-9_]+`)

// exported collects the edgeflow_* names written in the module's Go
// sources (tests excluded), and the MQTT counters, whose names are built
// from the keys of connections/mqtt/stats.go.
func exported(t *testing.T) (names map[string]bool, mqttKeys string) {
	t.Helper()
	names = map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".cache" || d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range metricName.FindAllString(string(b), -1) {
			names[n] = true
		}
		if filepath.ToSlash(path) == "../connections/mqtt/stats.go" {
			mqttKeys = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if mqttKeys == "" {
		t.Fatal("connections/mqtt/stats.go not found")
	}
	return names, mqttKeys
}

func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/dashboards/edgeflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string
		Panels []struct {
			ID         int
			Type       string
			Title      string
			Datasource struct{ UID string }
			Targets    []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	prov, err := os.ReadFile("grafana/provisioning/datasources/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	names, mqttKeys := exported(t)
	ids := map[int]bool{}
	queries := 0
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if !strings.Contains(string(prov), "uid: "+p.Datasource.UID) {
			t.Errorf("panel %q uses datasource %q, which is not provisioned", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced query %s", p.Title, tg.Expr)
			}
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if names[base] || names[m] {
					continue
				}
				if key, ok := strings.CutPrefix(base, "edgeflow_mqtt_"); ok && strings.Contains(mqttKeys, `"`+strings.TrimSuffix(key, "_total")+`":`) {
					continue
				}
				t.Errorf("panel %q asks for %s, which edgeflow does not export", p.Title, m)
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries; the dashboard lost its panels", queries)
	}
}
