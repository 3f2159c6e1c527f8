package admin

import (
	"math"
	"strconv"
	"time"
)

// num is a float that encodes NaN (no data in the interval) as null.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// sample is one second of the dashboard's history.
type sample struct {
	Time       int64                  `json:"t"` // Unix milliseconds
	Generation int                    `json:"gen"`
	Nodes      map[string]nodeSample  `json:"nodes"`
	Latency    percentiles            `json:"latency"` // end to end, all sinks
	Models     map[string]modelSample `json:"models,omitempty"`
	Scores     map[string]scoreSample `json:"scores,omitempty"`
}

type nodeSample struct {
	In       num    `json:"in"`  // received per second
	Out      num    `json:"out"` // emitted per second
	Received uint64 `json:"received"`
	Emitted  uint64 `json:"emitted"`
	Dropped  uint64 `json:"dropped"`
	Errors   uint64 `json:"errors"`
	Depth    int    `json:"depth"`
	Capacity int    `json:"capacity"`
	Acked    uint64 `json:"acked"`
	Nacked   uint64 `json:"nacked"`
	P50      num    `json:"p50"` // processing seconds in the interval
	P95      num    `json:"p95"`
}

type percentiles struct {
	P50 num `json:"p50"`
	P95 num `json:"p95"`
	P99 num `json:"p99"`
}

type modelSample struct {
	Batch     num `json:"batch"`     // mean messages per run
	Inference num `json:"inference"` // mean seconds per run
	P95       num `json:"p95"`
	Runs      num `json:"runs"` // runs per second
}

type scoreSample struct {
	Max    num `json:"max"`
	Alerts int `json:"alerts"`
}

// status is the slower-moving state shown next to the plots.
type status struct {
	Pipeline    string         `json:"pipeline"`
	Version     string         `json:"version"`
	Ready       bool           `json:"ready"`
	Started     int64          `json:"started"`
	Reload      reloadJSON     `json:"reload"`
	DeadLetters deadLetterJSON `json:"deadLetters"`
	Connections []connJSON     `json:"connections"`
	Models      []modelJSON    `json:"models"`
	Previews    []previewJSON  `json:"previews"`
	Sources     []sourceJSON   `json:"sources"`
	Generation  int            `json:"gen"`
	Graph       *graphJSON     `json:"graph,omitempty"` // only in /api/state
	History     []sample       `json:"history,omitempty"`
	Last        *sample        `json:"last,omitempty"`
}

type reloadJSON struct {
	Count int    `json:"count"`
	Last  int64  `json:"last,omitempty"`
	Error string `json:"error,omitempty"`
}

type deadLetterJSON struct {
	Total  uint64           `json:"total"`
	Recent []deadLetterItem `json:"recent"`
}

type deadLetterItem struct {
	Time  int64  `json:"t"`
	Node  string `json:"node"`
	Error string `json:"error"`
}

type connJSON struct {
	Name     string             `json:"name"`
	Type     string             `json:"type"`
	State    string             `json:"state"`
	Counters map[string]float64 `json:"counters"`
}

type modelJSON struct {
	Node       string `json:"node"`
	Path       string `json:"path"`
	SHA256     string `json:"sha256"`
	Loaded     bool   `json:"loaded"`
	Reloads    uint64 `json:"reloads"`
	Rejected   uint64 `json:"rejected"`
	LastReload int64  `json:"lastReload,omitempty"`
}

type previewJSON struct {
	Node string `json:"node"`
	URL  string `json:"url"`
}

type sourceJSON struct {
	Node   string `json:"node"`
	Acked  uint64 `json:"acked"`
	Nacked uint64 `json:"nacked"`
}

type graphJSON struct {
	Name  string     `json:"name"`
	Nodes []nodeJSON `json:"nodes"`
}

type nodeJSON struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Kind       string   `json:"kind"`
	Inputs     []string `json:"inputs"`
	DeadLetter bool     `json:"deadLetter"`
	Queue      string   `json:"queue"` // overflow policy and capacity
	Capacity   int      `json:"capacity"`
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
