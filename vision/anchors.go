package vision

import "math"

// SSDAnchors are the options of MediaPipe's SSD anchor generator
// (SsdAnchorsCalculator), which lays out the anchors BlazeFace and other
// MediaPipe detectors regress against.
type SSDAnchors struct {
	NumLayers    int
	MinScale     float32
	MaxScale     float32
	Strides      []int
	AspectRatios []float32
	// AnchorOffset is where in its cell an anchor's centre sits (0.5: the
	// middle).
	AnchorOffset float32
	// InterpolatedScaleAspectRatio, when > 0, adds one anchor per cell and
	// layer with scale sqrt(scale·next scale) and this aspect ratio.
	InterpolatedScaleAspectRatio float32
	// FixedAnchorSize makes every anchor 1×1 (the regressed sizes are then
	// absolute), as BlazeFace does.
	FixedAnchorSize          bool
	ReduceBoxesInLowestLayer bool
}

// Anchor is an anchor box, normalised to the model input (0..1).
type Anchor struct {
	X, Y, W, H float32
}

// Known anchor layouts of MediaPipe's face detectors (from their graphs'
// SsdAnchorsCalculator options).
var (
	// BlazeFaceShortRange is face_detection_short_range (128×128): 512
	// anchors at stride 8 and 384 at stride 16, 896 in all.
	BlazeFaceShortRange = SSDAnchors{NumLayers: 4, MinScale: 0.1484375, MaxScale: 0.75, Strides: []int{8, 16, 16, 16},
		AspectRatios: []float32{1}, AnchorOffset: 0.5, InterpolatedScaleAspectRatio: 1, FixedAnchorSize: true}
	// BlazeFaceFullRange is face_detection_full_range (192×192): one
	// anchor per cell at stride 4, 2304 in all.
	BlazeFaceFullRange = SSDAnchors{NumLayers: 1, MinScale: 0.1484375, MaxScale: 0.75, Strides: []int{4},
		AspectRatios: []float32{1}, AnchorOffset: 0.5, FixedAnchorSize: true}
	// BlazeFaceBack is the older back-camera model (256×256): 512 anchors at
	// stride 16 and 384 at stride 32.
	BlazeFaceBack = SSDAnchors{NumLayers: 4, MinScale: 0.15625, MaxScale: 0.75, Strides: []int{16, 32, 32, 32},
		AspectRatios: []float32{1}, AnchorOffset: 0.5, InterpolatedScaleAspectRatio: 1, FixedAnchorSize: true}
)

func anchorScale(min, max float32, i, n int) float32 {
	if n == 1 {
		return (min + max) / 2
	}
	return min + (max-min)*float32(i)/float32(n-1)
}

// Generate lays out the anchors for an input of inW×inH pixels, in the
// order the model's outputs list them: layer by layer (consecutive layers of
// one stride share a grid), row by row, anchors of a cell together.
func (o SSDAnchors) Generate(inW, inH int) []Anchor {
	var out []Anchor
	n := min(o.NumLayers, len(o.Strides))
	for layer := 0; layer < n; {
		var ws, hs []float32
		last := layer
		for last < n && o.Strides[last] == o.Strides[layer] {
			scale := anchorScale(o.MinScale, o.MaxScale, last, len(o.Strides))
			if last == 0 && o.ReduceBoxesInLowestLayer {
				for i, ar := range []float32{1, 2, 0.5} {
					s := scale
					if i == 0 {
						s = 0.1
					}
					r := float32(math.Sqrt(float64(ar)))
					ws, hs = append(ws, s*r), append(hs, s/r)
				}
			} else {
				for _, ar := range o.AspectRatios {
					r := float32(math.Sqrt(float64(ar)))
					ws, hs = append(ws, scale*r), append(hs, scale/r)
				}
				if o.InterpolatedScaleAspectRatio > 0 {
					next := float32(1)
					if last != len(o.Strides)-1 {
						next = anchorScale(o.MinScale, o.MaxScale, last+1, len(o.Strides))
					}
					s := float32(math.Sqrt(float64(scale * next)))
					r := float32(math.Sqrt(float64(o.InterpolatedScaleAspectRatio)))
					ws, hs = append(ws, s*r), append(hs, s/r)
				}
			}
			last++
		}
		stride := o.Strides[layer]
		fw, fh := ceilDiv(inW, stride), ceilDiv(inH, stride)
		for y := range fh {
			for x := range fw {
				for i := range ws {
					a := Anchor{X: (float32(x) + o.AnchorOffset) / float32(fw), Y: (float32(y) + o.AnchorOffset) / float32(fh), W: 1, H: 1}
					if !o.FixedAnchorSize {
						a.W, a.H = ws[i], hs[i]
					}
					out = append(out, a)
				}
			}
		}
		layer = last
	}
	return out
}
