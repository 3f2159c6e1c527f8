package vision

import (
	"fmt"
	"math"
)

// Letterbox records how an image of SrcW×SrcH pixels was fitted into a model
// input of DstW×DstH: scaled by ScaleX, ScaleY, then shifted by PadX, PadY
// (the left and top padding). A letterbox keeps ScaleX == ScaleY; a plain
// resize has different scales and no padding. The image stage puts one in
// Fields["letterbox"] so that the detect stage can map boxes back.
type Letterbox struct {
	SrcW   int     `json:"src_w"`
	SrcH   int     `json:"src_h"`
	DstW   int     `json:"dst_w"`
	DstH   int     `json:"dst_h"`
	ScaleX float64 `json:"scale_x"`
	ScaleY float64 `json:"scale_y"`
	PadX   float64 `json:"pad_x"`
	PadY   float64 `json:"pad_y"`
}

// Placement says where a letterboxed image sits in the model input.
type Placement int

const (
	// TopLeft pads at the bottom and right (YOLOX).
	TopLeft Placement = iota
	// Center pads evenly on both sides (NanoDet).
	Center
)

// FitLetterbox computes the letterbox that fits src into dst keeping the
// aspect ratio. The resized size is rounded to whole pixels, and the scales
// are the ones that size really implies, so that boxes map back exactly.
func FitLetterbox(srcW, srcH, dstW, dstH int, place Placement) (Letterbox, error) {
	if srcW <= 0 || srcH <= 0 || dstW <= 0 || dstH <= 0 {
		return Letterbox{}, fmt.Errorf("letterbox: bad sizes %dx%d -> %dx%d", srcW, srcH, dstW, dstH)
	}
	r := min(float64(dstW)/float64(srcW), float64(dstH)/float64(srcH))
	w := max(1, min(dstW, int(math.Round(float64(srcW)*r))))
	h := max(1, min(dstH, int(math.Round(float64(srcH)*r))))
	l := Letterbox{SrcW: srcW, SrcH: srcH, DstW: dstW, DstH: dstH,
		ScaleX: float64(w) / float64(srcW), ScaleY: float64(h) / float64(srcH)}
	if place == Center {
		l.PadX, l.PadY = float64((dstW-w)/2), float64((dstH-h)/2)
	}
	return l, nil
}

// Stretch is the mapping of a plain resize of src to dst (no padding).
func Stretch(srcW, srcH, dstW, dstH int) (Letterbox, error) {
	if srcW <= 0 || srcH <= 0 || dstW <= 0 || dstH <= 0 {
		return Letterbox{}, fmt.Errorf("resize: bad sizes %dx%d -> %dx%d", srcW, srcH, dstW, dstH)
	}
	return Letterbox{SrcW: srcW, SrcH: srcH, DstW: dstW, DstH: dstH,
		ScaleX: float64(dstW) / float64(srcW), ScaleY: float64(dstH) / float64(srcH)}, nil
}

// Resized is the size of the scaled image inside the model input.
func (l Letterbox) Resized() (w, h int) {
	return int(math.Round(float64(l.SrcW) * l.ScaleX)), int(math.Round(float64(l.SrcH) * l.ScaleY))
}

// ToSource maps a box in model-input pixels back to source pixels, clipped
// to the source image.
func (l Letterbox) ToSource(b Box) Box {
	fx := func(x float32) float32 {
		v := (float64(x) - l.PadX) / l.ScaleX
		return float32(math.Min(math.Max(v, 0), float64(l.SrcW)))
	}
	fy := func(y float32) float32 {
		v := (float64(y) - l.PadY) / l.ScaleY
		return float32(math.Min(math.Max(v, 0), float64(l.SrcH)))
	}
	return Box{fx(b.X1), fy(b.Y1), fx(b.X2), fy(b.Y2)}
}

// PointToSource maps a point in model-input pixels back to source pixels,
// clipped to the source image.
func (l Letterbox) PointToSource(p Point) Point {
	b := l.ToSource(Box{p.X, p.Y, p.X, p.Y})
	return Point{b.X1, b.Y1}
}

// Valid reports whether the letterbox can map boxes back.
func (l Letterbox) Valid() bool {
	return l.SrcW > 0 && l.SrcH > 0 && l.DstW > 0 && l.DstH > 0 && l.ScaleX > 0 && l.ScaleY > 0
}

// LetterboxFrom reads a letterbox from a field value: a Letterbox, a pointer
// to one, or the map a JSON round trip makes of it.
func LetterboxFrom(v any) (Letterbox, error) {
	var l Letterbox
	switch x := v.(type) {
	case Letterbox:
		l = x
	case *Letterbox:
		if x == nil {
			return l, fmt.Errorf("letterbox is nil")
		}
		l = *x
	case map[string]any:
		num := func(k string) float64 {
			switch n := x[k].(type) {
			case float64:
				return n
			case int:
				return float64(n)
			case int64:
				return float64(n)
			}
			return 0
		}
		l = Letterbox{SrcW: int(num("src_w")), SrcH: int(num("src_h")), DstW: int(num("dst_w")), DstH: int(num("dst_h")),
			ScaleX: num("scale_x"), ScaleY: num("scale_y"), PadX: num("pad_x"), PadY: num("pad_y")}
	default:
		return l, fmt.Errorf("letterbox field holds %T, want a vision.Letterbox", v)
	}
	if !l.Valid() {
		return l, fmt.Errorf("letterbox %+v is incomplete", l)
	}
	return l, nil
}
