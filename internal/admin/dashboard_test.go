package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/edgeflow/edgeflow/internal/admin"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

// tickSource emits a reading every interval, cycling over keys, until ctx
// is done.
type tickSource struct {
	keys     []string
	interval time.Duration
}

func (s tickSource) Run(ctx context.Context, out pipeline.SourceOutput) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		m := pipeline.NewMessage([]byte{byte(i)})
		m.Key = s.keys[i%len(s.keys)]
		if err := out.Emit(m); err != nil {
			return err
		}
	}
}

// scorer passes messages on, fails one in 50 and keeps a fake anomaly
// score per key for the dashboard (admin.ScoreTaker).
type scorer struct {
	mu     sync.Mutex
	n      int
	scores map[string]float64
	alerts map[string]int
}

func (s *scorer) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	s.mu.Lock()
	s.n++
	n := s.n
	if s.scores == nil {
		s.scores, s.alerts = map[string]float64{}, map[string]int{}
	}
	score := float64(n%100) / 100
	s.scores[m.Key] = max(s.scores[m.Key], score)
	if n%97 == 0 {
		s.alerts[m.Key]++
	}
	s.mu.Unlock()
	if n%50 == 0 {
		return fmt.Errorf("reading %d out of range", n)
	}
	out.Emit(m)
	return nil
}

func (s *scorer) TakeScores(fn func(string, float64, int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.scores {
		fn(k, v, s.alerts[k])
	}
	clear(s.scores)
	clear(s.alerts)
}

// preview stands for an annotate sink: its preview URL serves a JPEG.
type preview struct{ url string }

func (p preview) PreviewURL() string { return p.url }

// jpegServer serves one small JPEG, as an MJPEG stream's snapshot would.
func jpegServer(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var buf bytes.Buffer
	must(t, jpeg.Encode(&buf, img, nil))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/snapshot.jpg"
}

// viewTarget is a pipeline with component types, as `edgeflow run` serves
// it.
type viewTarget struct {
	*pipeline.Pipeline
	comps map[string]any
	types map[string]string
}

func (v viewTarget) View() admin.View {
	return admin.View{Pipeline: v.Pipeline, Components: v.comps, Types: v.types}
}

// startDashboardPipeline runs a small pipeline with an admin server until
// the test ends, and returns the server's base URL and the node names.
func startDashboardPipeline(t *testing.T) (string, []string) {
	t.Helper()
	p := pipeline.New(pipeline.Options{Name: "boilers"})
	sc := &scorer{}
	out, dead := &countSink{}, &countSink{}
	must(t, p.AddSource("readings", tickSource{keys: []string{"boiler-1", "boiler-2", "boiler-3"}, interval: 2 * time.Millisecond}, pipeline.NodeOptions{}))
	must(t, p.AddStage("score", sc, []string{"readings"}, pipeline.NodeOptions{}))
	must(t, p.AddSink("alerts", out, []string{"score"}, pipeline.NodeOptions{Buffer: 64}))
	must(t, p.AddSink("archive", &countSink{}, []string{"readings"}, pipeline.NodeOptions{Overflow: pipeline.DropOldest}))
	must(t, p.SetDeadLetter("dead-letters", dead, pipeline.NodeOptions{}))
	target := viewTarget{Pipeline: p, comps: map[string]any{"score": sc, "archive": preview{jpegServer(t)}},
		types: map[string]string{"readings": "generate", "score": "anomaly", "alerts": "nats", "archive": "file", "dead-letters": "file"}}

	srv, err := admin.New(target, admin.Options{Addr: "127.0.0.1:0", Version: "test"})
	must(t, err)
	srvCtx, stopSrv := context.WithCancel(context.Background())
	must(t, srv.Start(srvCtx))
	runCtx, stopRun := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	t.Cleanup(func() {
		stopRun()
		if err := <-runErr; err != nil {
			t.Errorf("run: %v", err)
		}
		stopSrv()
		if err := srv.Wait(); err != nil {
			t.Errorf("admin server: %v", err)
		}
	})
	return "http://" + srv.Addr(), []string{"readings", "score", "alerts", "archive", "dead-letters"}
}

func TestStateEndpoint(t *testing.T) {
	base, nodes := startDashboardPipeline(t)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var st struct {
		Pipeline string
		Graph    struct {
			Nodes []struct{ Name, Type, Kind string }
		}
		History []struct {
			Nodes  map[string]struct{ Received, Errors uint64 }
			Scores map[string]struct{ Max *float64 }
		}
		DeadLetters struct {
			Total  uint64
			Recent []struct{ Node, Error string }
		}
	}
	waitFor(t, "three samples with dead letters", func() bool {
		_, body := get(t, client, base+"/api/state")
		must(t, json.Unmarshal([]byte(body), &st))
		return len(st.History) >= 3 && st.DeadLetters.Total > 0
	})
	if st.Pipeline != "boilers" {
		t.Errorf("pipeline = %q, want boilers", st.Pipeline)
	}
	var names []string
	for _, n := range st.Graph.Nodes {
		names = append(names, n.Name)
		if n.Type == "" {
			t.Errorf("node %q has no type", n.Name)
		}
	}
	if !slices.Equal(names, nodes) {
		t.Errorf("graph nodes = %v, want %v", names, nodes)
	}
	last := st.History[len(st.History)-1]
	if last.Nodes["readings"].Received == 0 || last.Nodes["score"].Errors == 0 {
		t.Errorf("last sample lacks counts: %+v", last.Nodes)
	}
	if d := st.DeadLetters.Recent[0]; d.Node != "score" || !strings.Contains(d.Error, "out of range") {
		t.Errorf("latest dead letter = %+v, want one from score, out of range", d)
	}
	scored := false
	for _, h := range st.History {
		scored = scored || h.Scores["boiler-2"].Max != nil
	}
	if !scored {
		t.Errorf("no sample has a score for boiler-2")
	}
}

// TestDashboardInBrowser loads the dashboard in headless Chromium: no
// console errors, every node drawn, numbers moving. The screenshot is kept
// in the test's artifact directory (go test -artifacts), and written to
// $EDGEFLOW_SCREENSHOT as well when that is set.
func TestDashboardInBrowser(t *testing.T) {
	base, nodes := startDashboardPipeline(t)
	ctx, problems := browser(t)

	must(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#graph-svg g.node`)),
	))
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#graph g.node")].map(g => g.dataset.node)`))
	must(t, err)
	slices.Sort(drawn)
	want := slices.Sorted(slices.Values(nodes))
	if !slices.Equal(drawn, want) {
		t.Errorf("graph shows %v, want %v", drawn, want)
	}

	// Numbers move: the total read and a node's own counters change from
	// one second to the next while the pipeline runs.
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		must(t, err)
		return s
	}
	read := func() (total, totals string) {
		return text(`#total-in`), text(`#graph g.node[data-node="score"] text.totals`)
	}
	var first, firstTotals string
	waitFor(t, "the page to show messages", func() bool {
		first, firstTotals = read()
		return first != "0" && firstTotals != ""
	})
	var second, secondTotals string
	waitFor(t, "the numbers to move", func() bool {
		second, secondTotals = read()
		return second != first && secondTotals != firstTotals
	})
	t.Logf("messages in: %s then %s; score node: %q then %q", first, second, firstTotals, secondTotals)

	// Let the plots gather a few seconds, then keep a screenshot.
	var deadLetters string
	waitFor(t, "dead letters listed", func() bool {
		deadLetters = text(`#dead-letters`)
		return strings.Contains(deadLetters, "out of range")
	})
	// The preview of the sink is embedded and shows.
	var loaded bool
	waitFor(t, "the preview image", func() bool {
		loaded, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const i = document.querySelector("#previews img"); return !!i && i.complete && i.naturalWidth === 64; })()`))
		must(t, err)
		return loaded
	})
	time.Sleep(3 * time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	path := filepath.Join(t.ArtifactDir(), "dashboard.png")
	must(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	if extra := os.Getenv("EDGEFLOW_SCREENSHOT"); extra != "" {
		must(t, os.WriteFile(extra, png, 0o644))
	}

	if p := problems(); len(p) > 0 {
		t.Errorf("browser reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// browser starts headless Chromium for the test and returns its context
// and a function that returns the problems the page reported so far:
// console errors and warnings, uncaught exceptions and browser log errors
// (failed requests).
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	chromium := lookChromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium),
			chromedp.WindowSize(1400, 1100),
			chromedp.NoSandbox, // containers run tests as root
		)...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	consoleCtx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(consoleCtx)
	var (
		mu       sync.Mutex
		problems []string
	)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		stopConsole()
		<-collected
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	})
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}

// lookChromium finds Debian's chromium (installed by make deps:
// scripts/setup/chromium.sh).
func lookChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal(errors.New("no chromium on PATH: run make deps (scripts/setup/chromium.sh)"))
	return ""
}

// swapTarget serves whichever pipeline runs now, as a hot reload does.
type swapTarget struct {
	mu  sync.Mutex
	p   *pipeline.Pipeline
	gen int
}

func (s *swapTarget) current() (*pipeline.Pipeline, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p, s.gen
}

func (s *swapTarget) swap(p *pipeline.Pipeline) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p, s.gen = p, s.gen+1
}

func (s *swapTarget) Ready() bool                   { p, _ := s.current(); return p.Ready() }
func (s *swapTarget) Metrics() prometheus.Collector { return swapCollector{s} }
func (s *swapTarget) View() admin.View {
	p, gen := s.current()
	return admin.View{Pipeline: p, Generation: gen, Reload: admin.ReloadStatus{Count: gen, Last: time.Now()}}
}

// swapCollector is unchecked: its metrics change with the pipeline.
type swapCollector struct{ s *swapTarget }

func (swapCollector) Describe(chan<- *prometheus.Desc) {}
func (c swapCollector) Collect(ch chan<- prometheus.Metric) {
	p, _ := c.s.current()
	p.Metrics().Collect(ch)
}

// runUntilCleanup runs p until the test ends or stop is called.
func runUntilCleanup(t *testing.T, p *pipeline.Pipeline) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestDashboardFollowsReload: when the target's graph is replaced (a hot
// reload), the open page redraws it and counts the reload.
func TestDashboardFollowsReload(t *testing.T) {
	tick := tickSource{keys: []string{"a"}, interval: 5 * time.Millisecond}
	old := pipeline.New(pipeline.Options{Name: "v1"})
	must(t, old.AddSource("readings", tick, pipeline.NodeOptions{}))
	must(t, old.AddSink("old-sink", &countSink{}, []string{"readings"}, pipeline.NodeOptions{}))
	stopOld := runUntilCleanup(t, old)
	target := &swapTarget{p: old}

	srv, err := admin.New(target, admin.Options{Addr: "127.0.0.1:0"})
	must(t, err)
	srvCtx, stopSrv := context.WithCancel(context.Background())
	must(t, srv.Start(srvCtx))
	t.Cleanup(func() {
		stopSrv()
		must(t, srv.Wait())
	})
	ctx, problems := browser(t)
	drawn := func() []string {
		names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#graph g.node")].map(g => g.dataset.node)`))
		must(t, err)
		slices.Sort(names)
		return names
	}
	must(t, chromedp.Do(ctx, chromedp.Navigate("http://"+srv.Addr()+"/"), chromedp.WaitVisible(chromedp.CSS(`#graph-svg g.node`))))
	if got := drawn(); !slices.Equal(got, []string{"old-sink", "readings"}) {
		t.Fatalf("before the reload the graph shows %v", got)
	}

	next := pipeline.New(pipeline.Options{Name: "v2"})
	must(t, next.AddSource("readings", tick, pipeline.NodeOptions{}))
	must(t, next.AddStage("keep", failEven{}, []string{"readings"}, pipeline.NodeOptions{}))
	must(t, next.AddSink("new-sink", &countSink{}, []string{"keep"}, pipeline.NodeOptions{}))
	stopOld()
	runUntilCleanup(t, next)
	target.swap(next)

	want := []string{"keep", "new-sink", "readings"}
	waitFor(t, "the page to draw the new graph", func() bool { return slices.Equal(drawn(), want) })
	reloads, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#reloads`)))
	must(t, err)
	if !strings.HasPrefix(reloads, "1") {
		t.Errorf("reloads shows %q, want 1", reloads)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("browser reported problems:\n%s", strings.Join(p, "\n"))
	}
}
