package models_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
	"github.com/rs/zerolog"
)

// int8MLP writes a float MLP and its static int8 quantisation (which
// stores two calibration samples for the kernel check) and returns both
// paths.
func int8MLP(t *testing.T) (fp32, int8 string) {
	t.Helper()
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 32, Hidden: 64, Out: 8, Seed: 5}
	fp32 = mlp.Write(t, dir, "mlp.onnx")
	m, err := graph.Load(fp32)
	if err != nil {
		t.Fatal(err)
	}
	var calib [][]float32
	for i := range 16 {
		calib = append(calib, mlp.Input(uint64(i)))
	}
	q, rep, err := quantize.Static(m, quantize.FromVectors(calib), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.KernelCheck == nil || rep.KernelCheck.Samples != 2 || !rep.KernelCheck.Stored {
		t.Fatalf("quantiser's kernel check: %v, want 2 stored samples checked", rep.KernelCheck)
	}
	int8 = filepath.Join(dir, "mlp.int8.onnx")
	if err := graph.Save(int8, q); err != nil {
		t.Fatal(err)
	}
	return fp32, int8
}

// breakKernels makes every kernel check see wrong optimised outputs, as a
// broken int8 GEMM would produce, until the test ends, and counts the
// checks.
func breakKernels(t *testing.T) *atomic.Int64 {
	var calls atomic.Int64
	models.SetKernelFault(func(outs []models.Tensor) {
		calls.Add(1)
		for _, o := range outs {
			for i := range o.Data {
				if i%3 == 0 {
					o.Data[i] = -o.Data[i] + 1
				}
			}
		}
	})
	t.Cleanup(func() { models.SetKernelFault(nil) })
	return &calls
}

// TestKernelCheckRefuses loads an int8 model whose optimised execution is
// made to disagree with the reference: the load must fail by default,
// naming the CPU and its int8 kernel; warn loads it with an error log; off
// skips the check. A float model is not checked.
func TestKernelCheckRefuses(t *testing.T) {
	fp32, int8 := int8MLP(t)

	m, err := models.Open(int8, models.LoadOptions{})
	if err != nil {
		t.Fatalf("a sound int8 model is refused: %v", err)
	}
	m.Close()

	calls := breakKernels(t)
	_, err = models.Open(int8, models.LoadOptions{})
	if !errors.Is(err, models.ErrKernelMismatch) {
		t.Fatalf("int8 model with wrong optimised outputs loaded (err %v), want ErrKernelMismatch", err)
	}
	cpu := models.HostCPU()
	for _, want := range []string{cpu.Int8Kernel(), "1.25.1", int8} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if calls.Load() == 0 {
		t.Fatal("the kernel check never ran the optimised session")
	}

	var logs bytes.Buffer
	log := zerolog.New(&logs)
	m, err = models.Open(int8, models.LoadOptions{KernelCheck: models.KernelCheckWarn, Logger: &log})
	if err != nil {
		t.Fatalf("kernel_check warn refused the model: %v", err)
	}
	m.Close()
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "wrong results on this CPU") {
		t.Errorf("kernel_check warn logged %q, want an error-level line", logs.String())
	}

	before := calls.Load()
	m, err = models.Open(int8, models.LoadOptions{KernelCheck: models.KernelCheckOff})
	if err != nil {
		t.Fatalf("kernel_check off: %v", err)
	}
	m.Close()
	m, err = models.Open(fp32, models.LoadOptions{})
	if err != nil {
		t.Fatalf("float model: %v", err)
	}
	m.Close()
	if calls.Load() != before {
		t.Errorf("the check ran %d times with kernel_check off or on a float model", calls.Load()-before)
	}

	if _, err := models.Open(int8, models.LoadOptions{KernelCheck: "maybe"}); err == nil {
		t.Error("unknown kernel_check accepted")
	}
}

// TestKernelCheckReload: a reload whose version fails the check is
// rejected and the previous version keeps serving.
func TestKernelCheckReload(t *testing.T) {
	_, int8 := int8MLP(t)
	m, err := models.Open(int8, models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	breakKernels(t)
	if err := m.Reload(); !errors.Is(err, models.ErrKernelMismatch) {
		t.Fatalf("reload: %v, want ErrKernelMismatch", err)
	}
	if _, failed := m.Reloads(); failed != 1 {
		t.Errorf("failed reloads %d, want 1", failed)
	}
	if _, err := m.Run([]models.Tensor{{Shape: []int64{1, 32}, Data: make([]float32, 32)}}); err != nil {
		t.Errorf("previous version stopped serving: %v", err)
	}
}

// TestKernelCheckAgrees: without a fault the stored samples agree well
// within the tolerance, so the default cannot refuse sound models.
func TestKernelCheckAgrees(t *testing.T) {
	_, int8 := int8MLP(t)
	data, err := os.ReadFile(int8)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		rep, err := models.CheckKernels(data, models.Options{IntraOpThreads: threads}, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(rep)
		if !rep.Stored || rep.Samples != 2 || !rep.OK() || rep.Error > models.DefaultKernelTolerance/3 {
			t.Errorf("threads %d: %v, want 2 stored samples well within tolerance", threads, rep)
		}
	}
}

func TestCheckSamplesRoundTrip(t *testing.T) {
	vec := models.Tensor{Shape: []int64{1, 8}, Data: []float32{0, 1.5, -2, 3.25, 4, 5, 6, 7}}
	const h, w = 96, 128
	img := models.Tensor{Shape: []int64{1, 3, h, w}, Data: make([]float32, 3*h*w)}
	for c := range 3 {
		for y := range h {
			for x := range w {
				img.Data[(c*h+y)*w+x] = float32(40*c) + 100*float32(math.Sin(float64(x)/20)*math.Cos(float64(y)/25))
			}
		}
	}
	enc, err := models.EncodeCheckSamples([][]models.Tensor{{vec, img}})
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > 12000 {
		t.Errorf("encoded sample is %d bytes; a thumbnail should be a few kB", len(enc))
	}
	dec, err := models.DecodeCheckSamples(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(dec) != 1 || len(dec[0]) != 2 {
		t.Fatalf("decoded %d samples", len(dec))
	}
	for i, v := range vec.Data {
		if dec[0][0].Data[i] != v {
			t.Fatalf("small tensor not kept exactly: %v", dec[0][0].Data)
		}
	}
	var d, n float64
	for i, v := range img.Data {
		e := float64(dec[0][1].Data[i] - v)
		d += e * e
		n += float64(v) * float64(v)
	}
	if rel := math.Sqrt(d / n); rel > 0.05 {
		t.Errorf("thumbnail round trip: relative RMS error %.3f, want < 5%%", rel)
	}
	if _, err := models.DecodeCheckSamples(`{"version":1,"samples":[[{"shape":[1,3,8,8],"grid":[1,3,2,2],"u8":"AAAA"}]]}`); err == nil {
		t.Error("corrupt thumbnail decoded")
	}
}

func TestParseCPUInfo(t *testing.T) {
	for _, tc := range []struct {
		name, info, model, kernel string
		has, not                  []string
	}{
		{"intel-amx", "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse4_1 avx avx2 fma avx512f avx512bw avx512_vnni avx_vnni amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\nflags\t: fpu\n",
			"Intel(R) Xeon(R) Platinum 8480+", "AMX (amx_int8)", []string{"avx2", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8"}, nil},
		{"amd-vnni", "model name\t: AMD EPYC\nflags\t\t: sse4_1 avx avx2 avx512f avx512bw avx512_vnni\n",
			"AMD EPYC", "AVX-512 VNNI", []string{"avx512_vnni"}, []string{"amx_int8", "avx_vnni"}},
		{"arm64", "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes asimddp sha512 i8mm bf16\nCPU part\t: 0xd0c\n",
			"0xd0c", "arm64 i8mm (smmla)", []string{"asimd", "asimddp", "i8mm"}, []string{"avx2"}},
		{"old", "model name\t: Old\nflags\t: sse2\n", "Old", "portable (no int8 SIMD)", nil, []string{"sse4_1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := models.ParseCPUInfo(strings.NewReader(tc.info))
			if c.Model != tc.model || c.Int8Kernel() != tc.kernel {
				t.Errorf("model %q kernel %q, want %q, %q", c.Model, c.Int8Kernel(), tc.model, tc.kernel)
			}
			for _, f := range tc.has {
				if !c.Has(f) {
					t.Errorf("flag %s missing from %v", f, c.Flags)
				}
			}
			for _, f := range tc.not {
				if c.Has(f) {
					t.Errorf("flag %s in %v", f, c.Flags)
				}
			}
		})
	}
	t.Log(models.HostCPU(), models.HostCPU().Int8Kernel())
}
