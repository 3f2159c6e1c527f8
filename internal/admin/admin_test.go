package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/admin"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countSource emits n messages, then waits for ctx so the pipeline stays
// ready until the test stops it.
type countSource struct{ n int }

func (s countSource) Run(ctx context.Context, out pipeline.SourceOutput) error {
	for i := range s.n {
		m := pipeline.NewMessage([]byte{byte(i)})
		if err := out.Emit(m); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// failEven passes odd payloads and fails even ones, which go to the dead
// letter sink.
type failEven struct{}

func (failEven) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	if m.Payload[0]%2 == 0 {
		return errors.New("even")
	}
	out.Emit(m)
	return nil
}

type countSink struct{ n atomic.Int64 }

func (s *countSink) Write(context.Context, *pipeline.Message) error {
	s.n.Add(1)
	return nil
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerReportsPipeline(t *testing.T) {
	p := pipeline.New(pipeline.Options{Name: "t"})
	out, dead := &countSink{}, &countSink{}
	must(t, p.AddSource("gen", countSource{n: 10}, pipeline.NodeOptions{}))
	must(t, p.AddStage("odd", failEven{}, []string{"gen"}, pipeline.NodeOptions{}))
	must(t, p.AddSink("out", out, []string{"odd"}, pipeline.NodeOptions{Buffer: 7}))
	must(t, p.SetDeadLetter("dlq", dead, pipeline.NodeOptions{}))

	srv, err := admin.New(p, admin.Options{Addr: "127.0.0.1:0", Version: "v1.2.3"})
	must(t, err)
	srvCtx, stopSrv := context.WithCancel(context.Background())
	must(t, srv.Start(srvCtx))
	base := "http://" + srv.Addr()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

	if code, _ := get(t, client, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz before run = %d, want 200", code)
	}
	if code, _ := get(t, client, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz before run = %d, want 503", code)
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	waitFor(t, "messages to be delivered", func() bool { return out.n.Load() == 5 && dead.n.Load() == 5 })

	if code, body := get(t, client, base+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz while running = %d %q, want 200", code, body)
	}
	code, metrics := get(t, client, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics = %d", code)
	}
	for _, want := range []string{
		`edgeflow_node_received_total{kind="source",node="gen",pipeline="t"} 10`,
		`edgeflow_source_acked_total{kind="source",node="gen",pipeline="t"} 10`,
		`edgeflow_node_errors_total{kind="stage",node="odd",pipeline="t"} 5`,
		`edgeflow_node_emitted_total{kind="stage",node="odd",pipeline="t"} 5`,
		`edgeflow_node_received_total{kind="sink",node="out",pipeline="t"} 5`,
		`edgeflow_node_received_total{kind="sink",node="dlq",pipeline="t"} 5`,
		`edgeflow_node_queue_capacity{kind="sink",node="out",pipeline="t"} 7`,
		// Fast calls are sampled, so the histogram counts some of the 10.
		`edgeflow_node_processing_seconds_count{kind="stage",node="odd",pipeline="t"} `,
		`edgeflow_pipeline_ready 1`,
		`edgeflow_build_info{version="v1.2.3"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	stopRun()
	if err := <-runErr; err != nil {
		t.Fatalf("run: %v", err)
	}
	if code, _ := get(t, client, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz after run = %d, want 503", code)
	}
	if _, metrics := get(t, client, base+"/metrics"); !strings.Contains(metrics, "edgeflow_pipeline_ready 0") {
		t.Errorf("metrics after run lack edgeflow_pipeline_ready 0")
	}
	if code, _ := get(t, client, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz after run = %d, want 200", code)
	}

	stopSrv()
	if err := srv.Wait(); err != nil {
		t.Fatalf("server stopped with %v", err)
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Errorf("server still answers after shutdown")
	}
}

func TestStartFailsOnTakenPort(t *testing.T) {
	p := pipeline.New(pipeline.Options{})
	first, err := admin.New(p, admin.Options{Addr: "127.0.0.1:0"})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, first.Start(ctx))
	defer func() {
		cancel()
		must(t, first.Wait())
	}()

	second, err := admin.New(p, admin.Options{Addr: first.Addr()})
	must(t, err)
	if err := second.Start(ctx); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("second Start on %s = %v, want a listen error", first.Addr(), err)
	}
}

func TestDefaultAddrIsLoopback(t *testing.T) {
	if !strings.HasPrefix(admin.DefaultAddr, "127.0.0.1:") {
		t.Fatalf("DefaultAddr = %q, want loopback", admin.DefaultAddr)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	srv, err := admin.New(pipeline.New(pipeline.Options{}), admin.Options{})
	must(t, err)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /nope = %d, want 404", rec.Code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
