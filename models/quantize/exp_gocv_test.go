//go:build gocv

package quantize_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/quantize"
	"github.com/edgeflow/edgeflow/vision"
	visioneval "github.com/edgeflow/edgeflow/vision/eval"
)

var expConfigs = map[string]func(o *quantize.Options){
	"recipe":   func(o *quantize.Options) {},
	"nobc":     func(o *quantize.Options) { o.BiasCorrection = false },
	"eb1":      func(o *quantize.Options) { o.EmpiricalBias = 1 },
	"eb2":      func(o *quantize.Options) { o.EmpiricalBias = 2 },
	"eb3":      func(o *quantize.Options) { o.EmpiricalBias = 3 },
	"mse":      func(o *quantize.Options) { o.Method = quantize.MSE },
	"headlast": func(o *quantize.Options) { o.Exclude = append(o.Exclude, "Conv_292", "Conv_309", "Conv_326") },
	"headpw": func(o *quantize.Options) {
		o.Exclude = append(o.Exclude, "Conv_292", "Conv_309", "Conv_326", "Conv_290", "Conv_307", "Conv_324")
	},
	"head": func(o *quantize.Options) {
		for _, i := range []int{284, 286, 288, 290, 292, 301, 303, 305, 307, 309, 318, 320, 322, 324, 326} {
			o.Exclude = append(o.Exclude, fmt.Sprintf("Conv_%d", i))
		}
	},
	"eq1":   func(o *quantize.Options) { o.Equalize = 1 },
	"eq05":  func(o *quantize.Options) { o.Equalize = 0.5 },
	"eq075": func(o *quantize.Options) { o.Equalize = 0.75 },
	"last":  func(o *quantize.Options) { quantize.SetBiasLast(o, true) },
	"stem":  func(o *quantize.Options) { o.Exclude = append(o.Exclude, "Conv_0") },
	"local": func(o *quantize.Options) { quantize.SetBiasLocal(o, true) },
}

func runModel(t *testing.T, path string, samples []compare.Sample) [][]models.Tensor {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.NewSession(data, models.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out [][]models.Tensor
	for _, smp := range samples {
		in, err := s.Info().FitInputs(smp.Inputs)
		if err != nil {
			t.Fatal(err)
		}
		o, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func decode(t *testing.T, det string, in models.Tensor, outs []models.Tensor, thr float32) []vision.Detection {
	ts := make([]vision.Tensor, len(outs))
	for i, o := range outs {
		ts[i] = vision.Tensor{Shape: o.Shape, Data: o.Data}
	}
	w, h := int(in.Shape[3]), int(in.Shape[2])
	lb, _ := vision.Stretch(w, h, w, h)
	p := vision.Postprocess{Decoder: visioneval.Decoders[det], Threshold: thr, IoU: 0.45}
	d, err := p.Run(ts, lb)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// bestMatch is the score of the best same-class box of b over a with IoU >= 0.5, or 0.
func bestMatch(a vision.Detection, b []vision.Detection) float32 {
	var s float32
	for _, e := range b {
		if e.ClassID == a.ClassID && vision.IoU(a.Box, e.Box) >= 0.5 {
			s = max(s, e.Score)
		}
	}
	return s
}

func analyse(t *testing.T, tag, det string, samples []compare.Sample, fa, fb [][]models.Tensor) string {
	var A, B, M, nd int
	var sd, sq float64
	var lines []string
	border := map[float32]int{}
	for i, s := range samples {
		da := decode(t, det, s.Inputs[0], fa[i], 0.3)
		db := decode(t, det, s.Inputs[0], fb[i], 0.3)
		la := decode(t, det, s.Inputs[0], fa[i], 0.05)
		lb := decode(t, det, s.Inputs[0], fb[i], 0.05)
		A, B = A+len(da), B+len(db)
		for _, d := range la {
			if d.Score < 0.2 {
				continue
			}
			if o := bestMatch(d, lb); o > 0 {
				diff := float64(o - d.Score)
				sd += diff
				sq += diff * diff
				nd++
			}
		}
		M += vision.Match(da, db, 0.5)
		for _, d := range da {
			if bestMatch(d, db) == 0 {
				o := bestMatch(d, lb)
				lines = append(lines, fmt.Sprintf("  %s fp32-only %s score %.3f (int8 %.3f)", s.Name, d.Class, d.Score, o))
				for _, m := range []float32{0.05, 0.1} {
					if d.Score < 0.3+m && o > 0 {
						border[m]++
					}
				}
			}
		}
		for _, d := range db {
			if bestMatch(d, da) == 0 {
				o := bestMatch(d, la)
				lines = append(lines, fmt.Sprintf("  %s int8-only %s score %.3f (fp32 %.3f)", s.Name, d.Class, d.Score, o))
				for _, m := range []float32{0.05, 0.1} {
					if o >= 0.3-m && o > 0 {
						border[m]++
					}
				}
			}
		}
	}
	agr := 2 * float64(M) / float64(A+B)
	head := fmt.Sprintf("%s: score diff (fp32 >= 0.2, %d) mean %+.4f rms %.4f; A %d B %d M %d agreement %.1f%%; disagreements %d, borderline (fp32 within 0.05 / 0.1 of 0.3, other model has it below) %d / %d",
		tag, nd, sd/float64(nd), math.Sqrt(sq/float64(nd)), A, B, M, 100*agr, A+B-2*M, border[0.05], border[0.1])
	if os.Getenv("EXP_DETAIL") != "" {
		return head + "\n" + strings.Join(lines, "\n")
	}
	return head
}

func TestExp(t *testing.T) {
	names := os.Getenv("EXP")
	if names == "" {
		t.Skip("EXP")
	}
	dir, media := sharedMedia(t)
	fam := os.Getenv("EXP_FAM")
	if fam == "" {
		fam = quantize.NanoDet
	}
	var tc detectorCase
	for _, c := range detectorCases {
		if c.detector == fam {
			tc = c
		}
	}
	src := filepath.Join(dir, tc.file)
	calib := images(t, media, tc, calibViews)
	if v := os.Getenv("EXP_CALIB"); v != "" {
		calib = images(t, media, tc, v)
	}
	still := images(t, media, tc, evalViews)
	video := videoFrames(t, media, tc.detector, 25, 40, 19)
	fs, fv := runModel(t, src, still), runModel(t, src, video)
	for _, name := range strings.Split(names, ",") {
		opts, _ := quantize.Recipe(tc.detector)
		for _, part := range strings.Split(name, "+") {
			f, ok := expConfigs[part]
			if !ok {
				t.Fatalf("no config %q", part)
			}
			f(&opts)
		}
		m, err := graph.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		q, rep, err := quantize.Static(m, calibrator(calib), opts)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		out := writeModel(t, q, "int8.onnx")
		if p := os.Getenv("EXP_SAVE"); p != "" {
			_ = graph.Save(filepath.Join(p, fam+"_"+name+".onnx"), q)
		}
		qs, qv := runModel(t, out, still), runModel(t, out, video)
		fi, _ := os.Stat(out)
		fo, _ := os.Stat(src)
		skipped := slices.Collect(func(yield func(string) bool) {
			for _, s := range rep.Skipped {
				if strings.Contains(s, "kept float;") || strings.Contains(s, "sensitiv") {
					if !yield(s) {
						return
					}
				}
			}
		})
		t.Logf("== %s (%s, quantise %.1fs, size %.1f%%, %d float acts)\n%s\n%s", name, fam, took.Seconds(),
			100*float64(fi.Size())/float64(fo.Size()), len(skipped),
			analyse(t, "still", tc.detector, still, fs, qs), analyse(t, "video", tc.detector, video, fv, qv))
	}
}

func TestExpGraph(t *testing.T) {
	if os.Getenv("EXPG") == "" {
		t.Skip()
	}
	dir, _ := sharedMedia(t)
	m, err := graph.Load(filepath.Join(dir, os.Getenv("EXPG")))
	if err != nil {
		t.Fatal(err)
	}
	ix := graph.NewIndex(m.GetGraph())
	for _, n := range m.GetGraph().GetNode() {
		var dims []int64
		if len(n.GetInput()) > 1 {
			if w := ix.Initializer(n.GetInput()[1]); w != nil {
				dims = w.GetDims()
			}
		}
		var cons []string
		for _, c := range ix.Consumers(n.GetOutput()[0]) {
			cons = append(cons, c.GetOpType())
		}
		fmt.Printf("%s %s in=%v out=%v w=%v -> %v\n", n.GetOpType(), n.GetName(), n.GetInput()[:1], n.GetOutput(), dims, cons)
	}
}
