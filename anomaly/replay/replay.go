// Package replay scores a real pipeline on a NAB corpus: it builds the
// pipeline from its YAML file with its brokers pointed at ones it controls,
// publishes every file's rows to MQTT as `edgeflow simulate` does, collects
// the per-window scores the pipeline publishes to NATS and lines them up
// with the rows they score, for package nab to score. `edgeflow eval nab
// --pipeline` is its command line.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/anomaly/sim"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/connections/mqtt"
)

// Environment variables the pipeline file is expected to read (the example
// pipeline does): where its brokers are, its model, and whether the anomaly
// stage emits every window's score.
const (
	EnvMQTTURL    = "MQTT_URL"
	EnvMQTTListen = "MQTT_LISTEN"
	EnvMQTTClient = "MQTT_CLIENT_ID"
	EnvNATSURL    = "NATS_URL"
	EnvModel      = "ANOMALY_MODEL"
	EnvEmit       = "ANOMALY_EMIT"
	// EnvSummaryQoS is set to 0: the example publishes a summary of every
	// alert to MQTT, on the connection readings arrive on. With every
	// window emitted, QoS 1 publishes there deadlock the pipeline: the
	// connection's router blocks on the full source queue and cannot read
	// the PUBACKs the summary sink waits for.
	EnvSummaryQoS = "SUMMARY_QOS"
)

// Options configure Run.
type Options struct {
	// Pipeline is the pipeline file.
	Pipeline string
	// Model is the model file the pipeline runs (set as ANOMALY_MODEL);
	// empty leaves the pipeline's default.
	Model string
	// MQTTURL is the broker readings are published to and the pipeline
	// reads from; empty runs the pipeline's embedded broker
	// (MQTT_URL=embedded) on a free loopback port.
	MQTTURL string
	// NATSURL is where the pipeline publishes scores; empty starts an
	// in-process nats-server with JetStream in a temporary directory, so
	// that no score is stored beyond the run.
	NATSURL string
	// Subject the scores are read from (default "plant.alerts.>").
	Subject string
	// Topic readings are published to; {sensor} is the file's sensor id
	// (default sim.DefaultTopic).
	Topic string
	// Idle ends the collection when no score came for this long after the
	// last reading was published, even if some file's last row has no
	// score yet (default 10s).
	Idle time.Duration
	// Logger receives the pipeline's logs (default: none).
	Logger zerolog.Logger
}

// Result is what a replay collected.
type Result struct {
	// Scores has one entry per row of each file; rows with no score are
	// zero (not Ready).
	Scores [][]anomaly.Score
	// Readings published, and score messages received.
	Readings, Messages int
	// Duplicates are scores for a row already scored (redeliveries);
	// Unmatched name no file's sensor or no row's time.
	Duplicates, Unmatched int
	// DeadLettered counts the messages the pipeline dead-lettered
	// (subscription probes excluded).
	DeadLettered int
	// Incomplete lists the files whose last row got no score.
	Incomplete []string
	// Elapsed is from the first reading published to the last score.
	Elapsed time.Duration
}

// score is a score message as the pipeline publishes it (the anomaly
// stage's fields; `ready` and `alert` may have been dropped on the way).
type score struct {
	Sensor     string   `json:"sensor"`
	Time       string   `json:"time"`
	Likelihood *float64 `json:"likelihood"`
	Score      *float64 `json:"score"`
}

// Run replays files through the pipeline once and returns the score of
// every row. It sets the environment variables above (and restores them)
// while the pipeline file is loaded, so it must not run concurrently with
// itself or anything else that reads them. The pipeline's stdout sinks
// are silenced: with every window scored they would print every score.
func Run(ctx context.Context, files []*nab.File, opts Options) (*Result, error) {
	if opts.Subject == "" {
		opts.Subject = "plant.alerts.>"
	}
	if opts.Topic == "" {
		opts.Topic = sim.DefaultTopic
	}
	if opts.Idle <= 0 {
		opts.Idle = 10 * time.Second
	}
	rows, sensors, series, err := index(files)
	if err != nil {
		return nil, err
	}

	env := map[string]string{EnvEmit: "all", EnvSummaryQoS: "0", EnvMQTTClient: fmt.Sprintf("edgeflow-eval-nab-%d", os.Getpid())}
	if opts.Model != "" {
		env[EnvModel] = opts.Model
	}
	mqttURL := opts.MQTTURL
	if mqttURL == "" {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		env[EnvMQTTURL], env[EnvMQTTListen], mqttURL = "embedded", addr, "tcp://"+addr
	} else {
		env[EnvMQTTURL] = mqttURL
	}
	natsURL := opts.NATSURL
	if natsURL == "" {
		srv, err := startNATS()
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		natsURL = srv.url
	}
	env[EnvNATSURL] = natsURL

	f, err := loadWith(opts.Pipeline, env)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	built, err := buildSilenced(runCtx, f, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer built.Close(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- built.Pipeline.Run(runCtx) }()
	stop := func() error {
		cancel()
		return <-done
	}

	col := newCollector(files, rows, sensors)
	nc, err := nats.Connect(natsURL, nats.Name("edgeflow-eval-nab"))
	if err != nil {
		_ = stop()
		return nil, fmt.Errorf("replay: nats %s: %w", natsURL, err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe(opts.Subject, col.add)
	if err != nil {
		_ = stop()
		return nil, fmt.Errorf("replay: subscribe %s: %w", opts.Subject, err)
	}
	// Scores arrive in bursts far faster than the pipeline's sink waits for
	// JetStream: never drop one as a slow consumer.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = stop()
		return nil, fmt.Errorf("replay: %w", err)
	}
	if err := nc.Flush(); err != nil {
		_ = stop()
		return nil, fmt.Errorf("replay: %w", err)
	}

	res, err := publish(runCtx, built, mqttURL, opts, series, col)
	if err != nil {
		_ = stop()
		return nil, err
	}
	if err := stop(); err != nil {
		return nil, fmt.Errorf("replay: pipeline: %w", err)
	}
	_ = sub.Drain()
	if st, ok := built.Pipeline.Stats(config.DeadLetterName); ok {
		res.DeadLettered = max(0, int(st.Received)-res.DeadLettered)
	}
	col.result(res)
	return res, nil
}

// publish waits for the pipeline's MQTT subscription, publishes every row
// and waits for the scores. res.DeadLettered holds the probes sent.
func publish(ctx context.Context, built *config.Built, mqttURL string, opts Options, series []sim.Series, col *collector) (*Result, error) {
	var conn *mqtt.Conn
	for _, c := range built.Connections {
		if m, ok := c.(*mqtt.Conn); ok {
			conn = m
		}
	}
	if conn == nil {
		return nil, errors.New("replay: the pipeline has no mqtt connection to publish readings to")
	}
	if err := waitFor(ctx, 60*time.Second, built.Pipeline.Ready); err != nil {
		return nil, fmt.Errorf("replay: the pipeline did not get ready: %w", err)
	}
	pub, err := sim.Connect(mqttURL, fmt.Sprintf("edgeflow-eval-nab-sim-%d", os.Getpid()), 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer pub.Disconnect(100)
	// Ready means running, not that the broker has the subscription: probe
	// until something arrives. A probe is not JSON, so it is dead-lettered
	// and acknowledged at once; a reading would be held in its window.
	res := &Result{}
	probe := strings.ReplaceAll(opts.Topic, "{sensor}", "edgeflow-eval-probe")
	err = waitFor(ctx, 30*time.Second, func() bool {
		if conn.Stats().Received > 0 {
			return true
		}
		pub.Publish(probe, 1, false, "probe, not JSON").WaitTimeout(time.Second)
		res.DeadLettered++
		time.Sleep(50 * time.Millisecond)
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("replay: the pipeline does not receive from %s: %w", mqttURL, err)
	}
	// The broker acknowledges a publish on receipt, whatever the pipeline
	// has read: unchecked, every reading would queue in the broker (the
	// embedded one copies its whole queue on every acknowledgement), and
	// memory would grow with the corpus. Hold the publisher back instead.
	g := &gate{ctx: ctx, base: conn.Stats().Received, ahead: publishAhead + uint64(len(series)),
		received: func() uint64 { return conn.Stats().Received }}
	gated := make([]sim.Series, len(series))
	for i, s := range series {
		gated[i] = gatedSeries{s, g}
	}
	start := time.Now()
	sum, err := sim.Publish(ctx, pub, gated, sim.Options{Topic: opts.Topic, QoS: 1})
	if err != nil {
		return nil, fmt.Errorf("replay: publish: %w", err)
	}
	res.Readings = sum.Readings
	// Done once every file's last row is scored (each sensor's windows
	// leave the pipeline in order), or when scores stop coming.
	last := time.Now()
	seen := col.count()
	for !col.complete() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if n := col.count(); n != seen {
			seen, last = n, time.Now()
		} else if time.Since(last) > opts.Idle {
			break
		}
	}
	res.Elapsed = col.lastAt().Sub(start)
	return res, nil
}

// publishAhead bounds the readings published that the pipeline has not
// received yet.
const publishAhead = 1000

// gate counts the readings handed to the publisher and holds the next one
// back while more than ahead of them have not reached the pipeline.
type gate struct {
	ctx      context.Context
	received func() uint64 // readings the pipeline's connection received
	base     uint64        // received before the first reading (probes)
	ahead    uint64
	handed   uint64 // only the publisher's goroutine calls Next
}

func (g *gate) wait() {
	for g.handed > g.ahead && g.received()-g.base < g.handed-g.ahead && g.ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	g.handed++
}

// gatedSeries is a series whose Next waits at its gate.
type gatedSeries struct {
	sim.Series
	g *gate
}

func (s gatedSeries) Next() (sim.Reading, bool) {
	r, ok := s.Series.Next()
	if ok {
		s.g.wait()
	}
	return r, ok
}

// index gives every file's rows in time order (row order among equal
// times) and the sensor ids, and makes the series the simulator publishes,
// read from the files as they go: nothing here grows by more than an int32
// a row.
func index(files []*nab.File) ([][]int32, map[string]int, []sim.Series, error) {
	rows := make([][]int32, len(files))
	sensors := map[string]int{}
	series := make([]sim.Series, len(files))
	for i, f := range files {
		id := sim.SensorID(strings.TrimSuffix(filepath.Base(f.Name), filepath.Ext(f.Name)))
		if j, dup := sensors[id]; dup {
			return nil, nil, nil, fmt.Errorf("replay: %s and %s would both be sensor %q", files[j].Name, f.Name, id)
		}
		sensors[id] = i
		if len(f.Times) > math.MaxInt32 {
			return nil, nil, nil, fmt.Errorf("replay: %s has too many rows", f.Name)
		}
		rows[i] = make([]int32, len(f.Times))
		for r := range rows[i] {
			rows[i][r] = int32(r)
		}
		// Some NAB files repeat a timestamp (daylight saving time): their
		// scores are placed in arrival order, which each sensor's windows
		// keep.
		slices.SortStableFunc(rows[i], func(a, b int32) int { return f.Times[a].Compare(f.Times[b]) })
		series[i] = &fileSeries{id: id, f: f}
	}
	return rows, sensors, series, nil
}

// fileSeries plays a file's rows as readings of one sensor.
type fileSeries struct {
	id   string
	f    *nab.File
	next int
}

func (s *fileSeries) Sensor() string { return s.id }

func (s *fileSeries) Next() (sim.Reading, bool) {
	if s.next >= len(s.f.Values) {
		return sim.Reading{}, false
	}
	r, t := s.next, s.f.Times[s.next]
	s.next++
	return sim.Reading{Sensor: s.id, Offset: t.Sub(s.f.Times[0]), Time: t, Value: s.f.Values[r]}, true
}

// collector files score messages under their rows.
type collector struct {
	files   []*nab.File
	rows    [][]int32 // each file's rows in time order
	sensors map[string]int

	mu                sync.Mutex
	scores            [][]anomaly.Score
	got               [][]bool
	n, dup, unmatched int
	lastSeen          []bool
	at                time.Time
}

func newCollector(files []*nab.File, rows [][]int32, sensors map[string]int) *collector {
	c := &collector{files: files, rows: rows, sensors: sensors, lastSeen: make([]bool, len(files)),
		scores: make([][]anomaly.Score, len(files)), got: make([][]bool, len(files))}
	for i, f := range files {
		c.scores[i] = make([]anomaly.Score, len(f.Values))
		c.got[i] = make([]bool, len(f.Values))
	}
	return c
}

func (c *collector) add(msg *nats.Msg) {
	var s score
	err := json.Unmarshal(msg.Data, &s)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.at = time.Now()
	if err != nil || s.Likelihood == nil {
		c.unmatched++
		return
	}
	i, ok := c.sensors[s.Sensor]
	t, terr := time.Parse(time.RFC3339Nano, s.Time)
	if !ok || terr != nil {
		c.unmatched++
		return
	}
	times, order := c.files[i].Times, c.rows[i]
	k, ok := slices.BinarySearchFunc(order, t, func(row int32, t time.Time) int { return times[row].Compare(t) })
	if !ok {
		c.unmatched++
		return
	}
	r := -1
	for ; k < len(order) && times[order[k]].Equal(t); k++ {
		if !c.got[i][order[k]] {
			r = int(order[k])
			break
		}
	}
	if r < 0 {
		c.dup++
		return
	}
	c.got[i][r] = true
	// A likelihood of exactly 0.5 is what the stage reports while it
	// learns (not ready). The score is taken as published (JSON carries it
	// exactly), or recomputed from the likelihood when the pipeline drops
	// it (which misses the stage's range check and red-zone filter).
	l := *s.Likelihood
	sc := anomaly.Score{Likelihood: l}
	if l != 0.5 {
		sc.Ready, sc.Score = true, anomaly.LogScore(l)
		if s.Score != nil {
			sc.Score = *s.Score
		}
	}
	c.scores[i][r] = sc
	if r == len(c.files[i].Values)-1 {
		c.lastSeen[i] = true
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *collector) lastAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *collector) complete() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ok := range c.lastSeen {
		if !ok {
			return false
		}
	}
	return true
}

func (c *collector) result(res *Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res.Scores, res.Messages, res.Duplicates, res.Unmatched = c.scores, c.n, c.dup, c.unmatched
	for i, ok := range c.lastSeen {
		if !ok {
			res.Incomplete = append(res.Incomplete, c.files[i].Name)
		}
	}
}

// loadWith loads the pipeline file with env set, restoring the previous
// environment afterwards.
func loadWith(path string, env map[string]string) (*config.File, error) {
	type prev struct {
		v  string
		ok bool
	}
	saved := map[string]prev{}
	for k, v := range env {
		old, ok := os.LookupEnv(k)
		saved[k] = prev{old, ok}
		if err := os.Setenv(k, v); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
	}
	defer func() {
		for k, p := range saved {
			if p.ok {
				_ = os.Setenv(k, p.v)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}()
	f, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return f, nil
}

// buildSilenced builds f with os.Stdout pointing at the null device, so that
// stdout sinks (which take os.Stdout when constructed) write nowhere.
func buildSilenced(ctx context.Context, f *config.File, log zerolog.Logger) (*config.Built, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	// The null device stays open for the process: the sinks hold it.
	stdout := os.Stdout
	os.Stdout = null
	built, err := f.Build(ctx, config.BuildOptions{Logger: log})
	os.Stdout = stdout
	if err != nil {
		_ = null.Close()
		return nil, fmt.Errorf("replay: %w", err)
	}
	return built, nil
}

// natsServer is an in-process nats-server whose JetStream store is removed
// when it stops.
type natsServer struct {
	srv *server.Server
	dir string
	url string
}

func startNATS() (*natsServer, error) {
	dir, err := os.MkdirTemp("", "edgeflow-eval-nab-*")
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("replay: nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		os.RemoveAll(dir)
		return nil, errors.New("replay: nats-server did not start within 10s")
	}
	return &natsServer{srv: srv, dir: dir, url: srv.ClientURL()}, nil
}

func (n *natsServer) stop() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	os.RemoveAll(n.dir)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("replay: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
