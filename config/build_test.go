package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/config"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBuildAndRun(t *testing.T) {
	f, err := config.Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := f.Build(ctx, config.BuildOptions{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	conn := connNamed("broker")
	if conn == nil || !conn.started || conn.url != "tcp://127.0.0.1:1883" {
		t.Fatalf("connection = %+v, want started with the default url", conn)
	}
	if err := b.Pipeline.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run returned only at the timeout")
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !conn.closed {
		t.Error("connection not closed by Built.Close")
	}
	got := collectorFor("valid").get()
	if len(got) != 500 {
		t.Fatalf("delivered %d messages, want 500", len(got))
	}
	sum := 0.0
	for _, v := range got {
		sum += v
	}
	if want := 6.0 * 499 * 500 / 2; sum != want { // every value went through x3 and x2
		t.Errorf("sum of delivered values = %v, want %v", sum, want)
	}
	if n := acksFor("valid").get(); n != 500 {
		t.Errorf("acked %d source messages, want 500", n)
	}
	if n := len(collectorFor("valid-dead").get()); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
	if st, _ := b.Pipeline.Stats("double"); st.Received != 500 {
		t.Errorf("double received %d, want 500", st.Received)
	}
}

func TestBuildDryRunStartsNothing(t *testing.T) {
	t.Setenv("EF_TEST_URL", "fail") // Start would fail
	f, err := config.Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Build(context.Background(), config.BuildOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := connNamed("broker"); c.started {
		t.Error("DryRun started a connection")
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBuildStartFailureClosesEverything(t *testing.T) {
	t.Setenv("EF_TEST_URL", "fail")
	f, err := config.Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Build(context.Background(), config.BuildOptions{})
	if err == nil || err.Error() != "testdata/valid.yaml:13:3: connections.broker: cannot start: connection refused" {
		t.Fatalf("Build = %v", err)
	}
	if c := connNamed("broker"); !c.closed {
		t.Error("connection not closed after the failed start")
	}
}

func TestBuildConstructorErrors(t *testing.T) {
	src := `sources:
  gen: {type: test_gen, connection: brokr}
stages:
  a: {type: test_boom, input: gen}
  b: {type: test_scale, input: a, factor: 5000}
  c: {type: test_panic, input: b}
sinks:
  out: {type: test_closer, id: ctor, input: c}
connections:
  broker: {type: test_conn, url: x}
`
	f, err := config.Parse([]byte(src), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Build(context.Background(), config.BuildOptions{})
	want := []string{
		`p.yaml:2:37: sources.gen.connection: no connection named "brokr" (did you mean "broker"?) (have broker)`,
		`p.yaml:4:3: stages.a: boom`,
		`p.yaml:5:43: stages.b.factor: factor 5000 is too large for this test`,
		`p.yaml:6:3: stages.c: constructor panicked: bad day`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("Build errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *component.Error
		if !errors.As(e, &ce) {
			t.Errorf("%q is a %T, want *component.Error", e, e)
		}
	}
	if n := acksFor("closed-ctor").get(); n != 1 {
		t.Errorf("the sink built before the failure was closed %d times, want 1", n)
	}
	if c := connNamed("broker"); c.started || !c.closed {
		t.Errorf("connection %+v: want not started and closed", c)
	}
}

// The examples in testdata: each x.yaml with an x.errors file must fail with
// exactly those errors; the others must parse and build.
func TestTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) < 2 {
		t.Fatalf("testdata has %d yaml files", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := config.Load(path)
			want, rerr := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".errors")
			if rerr != nil {
				if err != nil {
					t.Fatal(err)
				}
				b, err := f.Build(context.Background(), config.BuildOptions{DryRun: true})
				if err != nil {
					t.Fatal(err)
				}
				_ = b.Close(context.Background())
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
