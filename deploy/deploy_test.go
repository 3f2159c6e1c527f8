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
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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

// TestComposeMonitoringProfile: Prometheus and Grafana are in the optional
// monitoring profile, mount files that exist, and Prometheus scrapes the
// edgeflow service's admin port.
func TestComposeMonitoringProfile(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Profiles []string
			Volumes  []string
			Ports    []string
		}
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		svc, ok := compose.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if !slices.Equal(svc.Profiles, []string{"monitoring"}) {
			t.Errorf("%s profiles %v, want [monitoring]", name, svc.Profiles)
		}
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				continue // a named volume
			}
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
		}
	}
	if p := compose.Services["edgeflow"].Profiles; len(p) != 0 {
		t.Errorf("edgeflow is in profiles %v; it must run without one", p)
	}
	prom, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prom), `"edgeflow:9464"`) || !strings.Contains(string(raw), `METRICS_LISTEN: 0.0.0.0:9464`) {
		t.Error("Prometheus does not scrape edgeflow:9464, or edgeflow does not listen there")
	}
}
