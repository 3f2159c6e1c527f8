package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgeflow/edgeflow/models"
	"github.com/spf13/cobra"
)

// benchOptions are the flags of model bench.
type benchOptions struct {
	batch        int
	threads      int
	duration     time.Duration
	warmup       int
	optimization string
	spinning     bool
	shapes       []string
	json         bool
	profile      string
}

// newModelBenchCmd builds model bench.
func newModelBenchCmd(m *modelOptions) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench FILE",
		Short: "Measure a model's throughput and latency in ONNX Runtime",
		Long: `bench runs the model on random inputs for --duration, one run after another,
and prints throughput (runs/s and samples/s), the latency of a run (p50, p99),
and the CPU's instruction sets that ORT's kernels can use (AVX2, AVX-512, VNNI,
AMX, arm64 dot product and i8mm) with the int8 GEMM kernel they select.

Dimension 0 of an input that is dynamic takes --batch; other dynamic dimensions
need --shape NAME=D,D,... On a terminal a progress line shows on stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return benchModel(cmd, args[0], m, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.batch, "batch", 1, "samples per run, for models with a dynamic batch dimension")
	f.IntVar(&o.threads, "threads", 0, "intra-op threads (0: ONNX Runtime's default, one per core)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	f.IntVar(&o.warmup, "warmup", 3, "untimed runs first")
	f.StringVar(&o.optimization, "optimization", "all", "graph optimisation: disable, basic, extended, all")
	f.BoolVar(&o.spinning, "spinning", false, "let idle ORT threads spin")
	f.StringArrayVar(&o.shapes, "shape", nil, "input shape, NAME=D,D,... (repeatable)")
	f.BoolVar(&o.json, "json", false, "print JSON")
	f.StringVar(&o.profile, "profile", "", "write ONNX Runtime's per-operator profile (JSON) to a file starting with this prefix")
	return cmd
}

type benchResult struct {
	Model      string  `json:"model"`
	Batch      int     `json:"batch"`
	Threads    int     `json:"threads"`
	Runs       int     `json:"runs"`
	Seconds    float64 `json:"seconds"`
	RunsPerSec float64 `json:"runs_per_second"`
	Samples    float64 `json:"samples_per_second"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	// CPU names the processor and the instruction sets ORT's kernels can
	// use on it.
	CPU models.CPU `json:"cpu"`
	// CPUms is the process's CPU time per run: with one thread, the
	// figure that other work on the machine disturbs least.
	CPUms    float64 `json:"cpu_ms_per_run"`
	Int8GEMM string  `json:"int8_gemm"`
}

func benchModel(cmd *cobra.Command, path string, mo *modelOptions, o *benchOptions) error {
	if o.batch < 1 || o.duration <= 0 || o.threads < 0 {
		return usageError{fmt.Errorf("--batch must be >= 1, --duration > 0 and --threads >= 0")}
	}
	if err := mo.initRuntime(); err != nil {
		return err
	}
	m, err := models.Open(path, models.LoadOptions{Options: models.Options{
		IntraOpThreads: o.threads, Optimization: o.optimization, Spinning: o.spinning, Profile: o.profile}})
	if err != nil {
		return err
	}
	defer m.Close()
	info, _ := m.Info()
	inputs, err := benchInputs(info, o.batch, o.shapes)
	if err != nil {
		return err
	}
	for range o.warmup {
		if _, err := m.Run(inputs); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	progress := isTerminal(os.Stderr)
	var lat []time.Duration
	cpu0 := processCPU()
	start := time.Now()
	lastShown := start
	for time.Since(start) < o.duration && ctx.Err() == nil {
		t := time.Now()
		if _, err := m.Run(inputs); err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
		if progress && time.Since(lastShown) > 250*time.Millisecond {
			lastShown = time.Now()
			el := time.Since(start)
			fmt.Fprintf(os.Stderr, "\r%s %5.1fs  %d runs  %.1f runs/s ", bar(el, o.duration), el.Seconds(), len(lat), float64(len(lat))/el.Seconds())
		}
	}
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	if progress {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	slices.Sort(lat)
	res := benchResult{
		Model: path, Batch: o.batch, Threads: o.threads, Runs: len(lat),
		Seconds: elapsed.Seconds(), RunsPerSec: float64(len(lat)) / elapsed.Seconds(),
		P50ms: ms(percentile(lat, 0.50)), P99ms: ms(percentile(lat, 0.99)),
		CPU: models.HostCPU(), Int8GEMM: models.HostCPU().Int8Kernel(),
		CPUms: ms(cpu) / float64(max(len(lat), 1)),
	}
	res.Samples = res.RunsPerSec * float64(o.batch)
	if o.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printBench(cmd.OutOrStdout(), res)
	return nil
}

func printBench(w io.Writer, r benchResult) {
	threads := strconv.Itoa(r.Threads)
	if r.Threads == 0 {
		threads = "default"
	}
	fmt.Fprintf(w, "model       %s\nbatch       %d\nthreads     %s\n", r.Model, r.Batch, threads)
	fmt.Fprintf(w, "cpu         %s\n", r.CPU.Model)
	fmt.Fprintf(w, "isa         %s (int8 GEMM: %s)\n", strings.Join(r.CPU.Flags, " "), r.CPU.Int8Kernel())
	fmt.Fprintf(w, "runs        %d in %.1fs\n", r.Runs, r.Seconds)
	fmt.Fprintf(w, "throughput  %.1f runs/s, %.1f samples/s\n", r.RunsPerSec, r.Samples)
	fmt.Fprintf(w, "latency     p50 %.3f ms, p99 %.3f ms\n", r.P50ms, r.P99ms)
	fmt.Fprintf(w, "cpu time    %.3f ms per run (all threads)\n", r.CPUms)
}

func bar(done, total time.Duration) string {
	const width = 20
	n := min(int(float64(width)*float64(done)/float64(total)), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

// benchInputs makes random inputs for every model input.
func benchInputs(info *models.Info, batch int, overrides []string) ([]models.Tensor, error) {
	given := map[string][]int64{}
	for _, o := range overrides {
		name, dims, ok := strings.Cut(o, "=")
		if !ok {
			return nil, usageError{fmt.Errorf("--shape %q: want NAME=D,D,... (the name, then every dimension)", o)}
		}
		var shape []int64
		for _, d := range strings.Split(dims, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
			if err != nil || n <= 0 {
				return nil, usageError{fmt.Errorf("--shape %q: %q is not a positive integer", o, d)}
			}
			shape = append(shape, n)
		}
		given[name] = shape
	}
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]models.Tensor, len(info.Inputs))
	for i, in := range info.Inputs {
		if !in.Float32() {
			return nil, fmt.Errorf("input %q is %s %s; bench feeds float32 tensors only", in.Name, in.Kind, in.Type)
		}
		shape, ok := given[in.Name]
		if !ok {
			shape = slices.Clone(in.Shape)
			for d, n := range shape {
				switch {
				case n >= 0:
				case d == 0:
					shape[d] = int64(batch)
				default:
					return nil, usageError{fmt.Errorf("input %q %s has a dynamic dimension %d: give --shape %s=<every dimension>", in.Name, in.ShapeString(), d, in.Name)}
				}
			}
			if batch > 1 && !in.DynamicBatch() {
				return nil, usageError{fmt.Errorf("input %q %s has no dynamic batch dimension; use --batch 1", in.Name, in.ShapeString())}
			}
		}
		n, ok := models.BoundedElements(shape, 1<<30)
		if !ok {
			return nil, usageError{fmt.Errorf("input %q: shape %v is not one a benchmark input can be made for (every dimension positive, at most 2^30 values)", in.Name, shape)}
		}
		data := make([]float32, n)
		for k := range data {
			data[k] = r.Float32()
		}
		out[i] = models.Tensor{Shape: shape, Data: data}
	}
	return out, nil
}

// processCPU is the CPU time (user + system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
