package admin

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// historyLen is how many one-second samples the dashboard keeps: 5 minutes.
const historyLen = 300

// maxSensors bounds the anomaly scores kept per sample, so that a pipeline
// with thousands of sensors cannot bloat the page.
const maxSensors = 16

// sampler turns the target's metrics into the dashboard's once-a-second
// samples, and keeps the last historyLen of them. One goroutine (run)
// writes; handlers read under mu.
type sampler struct {
	target   Target
	gatherer prometheus.Gatherer
	version  string
	started  time.Time
	interval time.Duration

	// State of the previous tick, owned by run.
	prevTime   time.Time
	prevCount  map[string]float64
	prevHist   map[string]*dto.Histogram
	touched    map[string]bool      // keys of prevCount and prevHist used this tick
	reloadSeen map[string]uint64    // onnx ok reloads by node
	reloadAt   map[string]time.Time // when they last grew

	mu      sync.Mutex
	history []sample // oldest first
	status  status
	changed chan struct{} // closed and replaced after each tick
}

func newSampler(target Target, g prometheus.Gatherer, version string) *sampler {
	return &sampler{
		target: target, gatherer: g, version: version, started: time.Now(), interval: time.Second,
		prevCount: map[string]float64{}, prevHist: map[string]*dto.Histogram{}, touched: map[string]bool{},
		reloadSeen: map[string]uint64{}, reloadAt: map[string]time.Time{},
		changed: make(chan struct{}),
	}
}

// run samples every interval until ctx is done.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.tick(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.tick(now)
		}
	}
}

// latest returns the newest sample and status, and a channel closed when
// a newer one is taken.
func (s *sampler) latest() (*sample, status, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last *sample
	if n := len(s.history); n > 0 {
		last = &s.history[n-1]
	}
	return last, s.status, s.changed
}

// state returns the whole history with the status and the graph.
func (s *sampler) state() status {
	view := viewOf(s.target)
	s.mu.Lock()
	st := s.status
	st.History = slices.Clone(s.history)
	s.mu.Unlock()
	// The graph and the reload status are read now, so that they agree
	// even when a reload happened since the last sample.
	st.Graph = graphOf(view)
	st.Generation = view.Generation
	st.Reload = reloadOf(view)
	return st
}

func (s *sampler) tick(now time.Time) {
	view := viewOf(s.target)
	mfs, _ := s.gatherer.Gather() // partial results on error are still useful
	fams := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		fams[mf.GetName()] = mf
	}
	dt := now.Sub(s.prevTime).Seconds()
	if s.prevTime.IsZero() || dt <= 0 {
		dt = math.NaN()
	}
	s.prevTime = now

	smp := sample{Time: now.UnixMilli(), Generation: view.Generation, Nodes: map[string]nodeSample{}}
	st := status{Pipeline: view.pipelineName(), Version: s.version, Ready: s.target.Ready(),
		Started: s.started.UnixMilli(), Generation: view.Generation,
		Reload: reloadOf(view)}

	s.nodes(fams, view, dt, &smp, &st)
	s.latency(fams, &smp)
	s.models(fams, view, dt, now, &smp, &st)
	st.Connections = s.connections(fams, view)
	smp.Scores = takeScores(view)
	if p := view.Pipeline; p != nil {
		total, recent := p.DeadLetters()
		st.DeadLetters.Total = total
		for _, d := range recent {
			st.DeadLetters.Recent = append(st.DeadLetters.Recent, deadLetterItem{d.Time.UnixMilli(), d.Node, d.Error})
		}
	}
	// Forget the series of nodes a reload removed.
	maps.DeleteFunc(s.prevCount, func(k string, _ float64) bool { return !s.touched[k] })
	maps.DeleteFunc(s.prevHist, func(k string, _ *dto.Histogram) bool { return !s.touched[k] })
	clear(s.touched)
	for _, name := range sortedKeys(view.Components) {
		if p, ok := view.Components[name].(Previewer); ok {
			if u := p.PreviewURL(); u != "" {
				st.Previews = append(st.Previews, previewJSON{Node: name, URL: u})
			}
		}
	}

	s.mu.Lock()
	if len(s.history) == historyLen {
		copy(s.history, s.history[1:])
		s.history = s.history[:historyLen-1]
	}
	s.history = append(s.history, smp)
	s.status = st
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// rate is the per-second growth of a counter since the previous tick; a
// counter that went backwards was reset (a reload), so it counts from 0.
func (s *sampler) rate(key string, v, dt float64) num {
	prev, ok := s.prevCount[key]
	s.prevCount[key] = v
	s.touched[key] = true
	if !ok || math.IsNaN(dt) {
		return num(math.NaN())
	}
	if v < prev {
		prev = 0
	}
	return num((v - prev) / dt)
}

func (s *sampler) histDelta(key string, h *dto.Histogram) histDelta {
	d := delta(h, s.prevHist[key])
	s.prevHist[key] = h
	s.touched[key] = true
	return d
}

func (s *sampler) nodes(fams map[string]*dto.MetricFamily, view View, dt float64, smp *sample, st *status) {
	get := func(name string) map[string]float64 { return byLabel(fams[name], "node") }
	recv, emit := get("edgeflow_node_received_total"), get("edgeflow_node_emitted_total")
	drop, errs := get("edgeflow_node_dropped_total"), get("edgeflow_node_errors_total")
	depth, capy := get("edgeflow_node_queue_depth"), get("edgeflow_node_queue_capacity")
	acked, nacked := get("edgeflow_source_acked_total"), get("edgeflow_source_nacked_total")
	proc := map[string]*dto.Histogram{}
	for _, m := range fams["edgeflow_node_processing_seconds"].GetMetric() {
		proc[label(m, "node")] = m.GetHistogram()
	}
	for name := range recv {
		ns := nodeSample{
			In: s.rate("in/"+name, recv[name], dt), Out: s.rate("out/"+name, emit[name], dt),
			Received: uint64(recv[name]), Emitted: uint64(emit[name]),
			Dropped: uint64(drop[name]), Errors: uint64(errs[name]),
			Depth: int(depth[name]), Capacity: int(capy[name]),
			Acked: uint64(acked[name]), Nacked: uint64(nacked[name]),
			P50: num(math.NaN()), P95: num(math.NaN()),
		}
		if h := proc[name]; h != nil {
			d := s.histDelta("proc/"+name, h)
			ns.P50, ns.P95 = num(d.quantile(0.5)), num(d.quantile(0.95))
		}
		smp.Nodes[name] = ns
	}
	if p := view.Pipeline; p != nil {
		for _, n := range p.Nodes() {
			if n.Kind == pipeline.KindSource {
				st.Sources = append(st.Sources, sourceJSON{Node: n.Name,
					Acked: uint64(acked[n.Name]), Nacked: uint64(nacked[n.Name])})
			}
		}
	}
}

func (s *sampler) latency(fams map[string]*dto.MetricFamily, smp *sample) {
	var all histDelta
	for _, m := range fams["edgeflow_sink_latency_seconds"].GetMetric() {
		all.add(s.histDelta("e2e/"+label(m, "node"), m.GetHistogram()))
	}
	smp.Latency = percentiles{num(all.quantile(0.5)), num(all.quantile(0.95)), num(all.quantile(0.99))}
}

func (s *sampler) models(fams map[string]*dto.MetricFamily, view View, dt float64, now time.Time, smp *sample, st *status) {
	batch := map[string]*dto.Histogram{}
	for _, m := range fams["edgeflow_onnx_batch_size"].GetMetric() {
		batch[label(m, "node")] = m.GetHistogram()
	}
	for _, m := range fams["edgeflow_onnx_inference_seconds"].GetMetric() {
		node := label(m, "node")
		inf := s.histDelta("inf/"+node, m.GetHistogram())
		ms := modelSample{Inference: num(inf.mean()), P95: num(inf.quantile(0.95)),
			Batch: num(math.NaN()), Runs: s.rate("runs/"+node, float64(m.GetHistogram().GetSampleCount()), dt)}
		if h := batch[node]; h != nil {
			ms.Batch = num(s.histDelta("batch/"+node, h).mean())
		}
		if smp.Models == nil {
			smp.Models = map[string]modelSample{}
		}
		smp.Models[node] = ms
	}
	reloads := map[string][2]uint64{}
	for _, m := range fams["edgeflow_onnx_reloads_total"].GetMetric() {
		r := reloads[label(m, "node")]
		if label(m, "result") == "ok" {
			r[0] = uint64(m.GetCounter().GetValue())
		} else {
			r[1] = uint64(m.GetCounter().GetValue())
		}
		reloads[label(m, "node")] = r
	}
	for _, name := range sortedKeys(view.Components) {
		md, ok := view.Components[name].(Modeler)
		if !ok {
			continue
		}
		path, sum, loaded := md.ModelVersion()
		r := reloads[name]
		if r[0] != s.reloadSeen[name] {
			s.reloadSeen[name], s.reloadAt[name] = r[0], now
		}
		st.Models = append(st.Models, modelJSON{Node: name, Path: path, SHA256: sum, Loaded: loaded,
			Reloads: r[0], Rejected: r[1], LastReload: unixMilli(s.reloadAt[name])})
	}
}

// connections reports every shared connection with its state and the
// counters of its metrics (edgeflow_<type>_<counter>{connection=name}).
func (s *sampler) connections(fams map[string]*dto.MetricFamily, view View) []connJSON {
	var out []connJSON
	for _, name := range sortedKeys(view.Connections) {
		c := connJSON{Name: name, Type: view.Types[name], State: "unknown", Counters: map[string]float64{}}
		if st, ok := view.Connections[name].(Stater); ok {
			c.State = st.State()
		}
		prefix := "edgeflow_" + c.Type + "_"
		for fname, mf := range fams {
			if c.Type == "" || !strings.HasPrefix(fname, prefix) {
				continue
			}
			for _, m := range mf.GetMetric() {
				if label(m, "connection") != name {
					continue
				}
				key := strings.TrimSuffix(strings.TrimPrefix(fname, prefix), "_total")
				if len(m.GetLabel()) > 1 { // further labels: stream, consumer...
					for _, l := range m.GetLabel() {
						if l.GetName() != "connection" {
							key += fmt.Sprintf("{%s}", l.GetValue())
						}
					}
				}
				c.Counters[key] += value(m)
			}
		}
		out = append(out, c)
	}
	return out
}

func takeScores(view View) map[string]scoreSample {
	var out map[string]scoreSample
	for _, name := range sortedKeys(view.Components) {
		st, ok := view.Components[name].(ScoreTaker)
		if !ok {
			continue
		}
		st.TakeScores(func(sensor string, maxScore float64, alerts int) {
			if out == nil {
				out = map[string]scoreSample{}
			}
			if _, seen := out[sensor]; !seen && len(out) >= maxSensors {
				return
			}
			out[sensor] = scoreSample{Max: num(maxScore), Alerts: alerts}
		})
	}
	return out
}

func reloadOf(view View) reloadJSON {
	return reloadJSON{Count: view.Reload.Count, Last: unixMilli(view.Reload.Last), Error: view.Reload.LastError}
}

func graphOf(view View) *graphJSON {
	g := &graphJSON{Name: view.pipelineName()}
	if view.Pipeline == nil {
		return g
	}
	for _, n := range view.Pipeline.Nodes() {
		queue := ""
		if n.Kind != pipeline.KindSource {
			queue = fmt.Sprintf("%s, %d", n.Overflow, n.Buffer)
		}
		g.Nodes = append(g.Nodes, nodeJSON{Name: n.Name, Type: view.Types[n.Name], Kind: n.Kind.String(),
			Inputs: n.Inputs, DeadLetter: n.DeadLetter, Queue: queue, Capacity: n.Buffer})
	}
	return g
}

func (v View) pipelineName() string {
	if v.Pipeline == nil {
		return ""
	}
	return v.Pipeline.Name()
}

func byLabel(mf *dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		out[label(m, name)] += value(m)
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
