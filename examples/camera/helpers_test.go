//go:build gocv

package camera_test

import (
	"context"
	"image/color"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision"
	"github.com/rs/zerolog"

	_ "github.com/edgeflow/edgeflow/sinks/annotate"
	_ "github.com/edgeflow/edgeflow/sinks/mqtt"
	_ "github.com/edgeflow/edgeflow/sinks/nats"
	_ "github.com/edgeflow/edgeflow/sources/camera"
	_ "github.com/edgeflow/edgeflow/stages/detect"
	_ "github.com/edgeflow/edgeflow/stages/image"
	_ "github.com/edgeflow/edgeflow/stages/onnx"
)

// Paths of the shared media and models, relative to this directory.
var (
	media  = envOr("EDGEFLOW_MEDIA", "../../../shared/media")
	models = envOr("EDGEFLOW_MODELS", "../../../shared/models")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	abs, _ := filepath.Abs(def)
	return abs
}

func need(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test input missing: %v", err)
	}
}

// result is what the collect sink saw of one message.
type result struct {
	key      string
	dets     []vision.Detection
	frameID  uint64
	captured time.Time
	arrived  time.Time
}

// collector gathers results; tests register one per name.
type collector struct {
	mu      sync.Mutex
	results []result
	hook    func(n int)
}

func (c *collector) Write(_ context.Context, m *pipeline.Message) error {
	r := result{key: m.Key, captured: m.SourceTime, arrived: time.Now()}
	r.dets, _ = m.Fields["detections"].([]vision.Detection)
	r.frameID, _ = m.Fields["frame_id"].(uint64)
	c.mu.Lock()
	c.results = append(c.results, r)
	n := len(c.results)
	hook := c.hook
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return nil
}

func (c *collector) all() []result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]result(nil), c.results...)
}

var (
	collectorsMu sync.Mutex
	collectors   = map[string]*collector{}
)

// sleeper is a stage that takes a fixed time per message: a slow detector.
type sleeper struct{ d time.Duration }

func (s sleeper) Process(ctx context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
	}
	out.Emit(m)
	return nil
}

func init() {
	component.Register(component.Spec{Kind: pipeline.KindSink, Name: "test_collect", Summary: "test sink",
		Fields: []component.Field{{Name: "name", Type: component.String}},
		New: func(conf *component.Config, _ *component.Resources) (any, error) {
			collectorsMu.Lock()
			defer collectorsMu.Unlock()
			c := &collector{}
			collectors[conf.String("name")] = c
			return c, nil
		}})
	component.Register(component.Spec{Kind: pipeline.KindStage, Name: "test_sleep", Summary: "slow stage",
		Fields: []component.Field{{Name: "delay", Type: component.Duration}},
		New: func(conf *component.Config, _ *component.Resources) (any, error) {
			return sleeper{conf.Duration("delay")}, nil
		}})
}

func collectorNamed(name string) *collector {
	collectorsMu.Lock()
	defer collectorsMu.Unlock()
	return collectors[name]
}

// build parses and builds a pipeline from YAML written in this directory.
func build(t testing.TB, yaml string) *config.Built {
	t.Helper()
	f, err := config.Parse([]byte(yaml), filepath.Join(".", "test.yaml"))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	if testing.Verbose() {
		log = log.Level(zerolog.InfoLevel)
	}
	b, err := f.Build(context.Background(), config.BuildOptions{Logger: log})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return b
}

// run runs a built pipeline until it ends or ctx is done.
func run(t testing.TB, b *config.Built, ctx context.Context) error {
	t.Helper()
	err := b.Pipeline.Run(ctx)
	if cerr := b.Close(context.Background()); cerr != nil {
		t.Errorf("close: %v", cerr)
	}
	return err
}

// runUntil runs the built pipeline b, whose collector sink is named name,
// until n results have arrived, then stops it. It returns the collector and
// the time from the first result to the n-th (n-1 frames; the first warms
// ORT up), which is 0 if fewer than n arrived.
func runUntil(tb testing.TB, b *config.Built, name string, n int) (*collector, time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := collectorNamed(name)
	var (
		first time.Time
		took  time.Duration
	)
	c.hook = func(got int) {
		switch got {
		case 1:
			first = time.Now()
		case n:
			took = time.Since(first)
			cancel()
		}
	}
	if err := run(tb, b, ctx); err != nil {
		tb.Fatal(err)
	}
	return c, took
}

var colorGrey = color.RGBA{R: 114, G: 114, B: 114}
