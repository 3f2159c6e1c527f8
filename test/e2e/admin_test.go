package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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
// metric over its label sets.
func gauge(addr, name string) (float64, error) {
	resp, err := metricsClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum, found = sum+v, true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no metric %s", name)
	}
	return sum, nil
}
