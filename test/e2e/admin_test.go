package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// adminAddr waits for the process to log its admin server's address (it
// runs with --metrics-listen 127.0.0.1:0) and returns it.
func (e *edgeflow) adminAddr(t *testing.T) string {
	t.Helper()
	var addr string
	waitUntil(t, 30*time.Second, "the admin server to listen", func() bool {
		sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
		for sc.Scan() {
			var l struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == "admin server listening" {
				addr = l.Addr
				return true
			}
		}
		return false
	})
	return addr
}

// metricsClient keeps no idle connections: a test's requests leave no
// goroutines behind for the leak check.
var metricsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// gauge reads the admin server's /metrics and returns the sum of the named
// gauge over its label sets.
func gauge(addr, name string) (float64, error) {
	resp, err := metricsClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	f, ok := families[name]
	if !ok {
		return 0, fmt.Errorf("no metric %s", name)
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		sum += m.GetGauge().GetValue()
	}
	return sum, nil
}
