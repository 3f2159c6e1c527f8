package vision

import (
	"image"
	"math"
)

// NHWC samples img into a model input [1, DstH, DstW, 3] (RGB) through the
// letterbox lb with bilinear interpolation, pixel centres aligned as
// OpenCV's resize aligns them. A channel value v (0..255) becomes
// (v − mean)/std; pixels outside the image get pad (0..255) the same way.
// It is the pure-Go twin of the image stage, for tools and tests without
// OpenCV.
func NHWC(img image.Image, lb Letterbox, mean, std, pad float32) []float32 {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	out := make([]float32, lb.DstW*lb.DstH*3)
	rw, rh := lb.Resized()
	px, py := int(math.Round(lb.PadX)), int(math.Round(lb.PadY))
	at := func(x, y int) [3]float32 {
		r, g, bl, _ := img.At(b.Min.X+min(max(x, 0), sw-1), b.Min.Y+min(max(y, 0), sh-1)).RGBA()
		return [3]float32{float32(r >> 8), float32(g >> 8), float32(bl >> 8)}
	}
	padv := (pad - mean) / std
	for y := range lb.DstH {
		for x := range lb.DstW {
			o := out[(y*lb.DstW+x)*3:][:3]
			ix, iy := x-px, y-py
			if ix < 0 || iy < 0 || ix >= rw || iy >= rh {
				o[0], o[1], o[2] = padv, padv, padv
				continue
			}
			fx := (float64(ix)+0.5)*float64(sw)/float64(rw) - 0.5
			fy := (float64(iy)+0.5)*float64(sh)/float64(rh) - 0.5
			x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
			ax, ay := float32(fx-float64(x0)), float32(fy-float64(y0))
			p00, p10, p01, p11 := at(x0, y0), at(x0+1, y0), at(x0, y0+1), at(x0+1, y0+1)
			for c := range 3 {
				v := (p00[c]*(1-ax)+p10[c]*ax)*(1-ay) + (p01[c]*(1-ax)+p11[c]*ax)*ay
				o[c] = (v - mean) / std
			}
		}
	}
	return out
}
