// Package eval evaluates vision models with models/compare: it turns
// images into model inputs as the detectors in the model mirror expect
// them (presets, views) and judges detectors by the detections they agree
// on (Detect).
package eval

import (
	"fmt"
	"image"
	_ "image/jpeg" // calibration and comparison images
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/vision"
)

// Preprocess turns an image into a model input tensor [1,3,H,W] (or
// [1,H,W,3] with NHWC).
type Preprocess struct {
	Name string
	// BGR orders channels blue, green, red (OpenCV-trained models).
	BGR bool
	// Mean and Std normalise each channel (in the channel order above):
	// (pixel - Mean) / Std, pixels 0..255.
	Mean, Std [3]float32
	// Letterbox keeps the aspect ratio and pads with Pad (a pixel value);
	// otherwise the image is stretched.
	Letterbox bool
	Place     vision.Placement
	Pad       float32
	// NHWC lays the tensor out [1,H,W,3], as TFLite models (and their ONNX
	// conversions) take it.
	NHWC bool
}

// Presets are the preprocessings of the detectors in the model mirror (see
// its README) and a plain RGB 0..1 one.
var Presets = map[string]Preprocess{
	"yolox": {Name: "yolox", BGR: true, Std: [3]float32{1, 1, 1}, Letterbox: true, Place: vision.TopLeft, Pad: 114},
	"nanodet": {Name: "nanodet", BGR: true, Mean: [3]float32{103.53, 116.28, 123.675}, Std: [3]float32{57.375, 57.12, 58.395},
		Letterbox: true, Place: vision.Center, Pad: 0},
	"ultraface": {Name: "ultraface", Mean: [3]float32{127, 127, 127}, Std: [3]float32{128, 128, 128}},
	"rgb":       {Name: "rgb", Std: [3]float32{255, 255, 255}},
	// MediaPipe's BlazeFace: RGB scaled to [-1,1], letterboxed centred,
	// NHWC.
	"blazeface": {Name: "blazeface", Mean: [3]float32{127.5, 127.5, 127.5}, Std: [3]float32{127.5, 127.5, 127.5},
		Letterbox: true, Place: vision.Center, NHWC: true},
}

// ImageOptions say how images become samples.
type ImageOptions struct {
	// Preprocess is the image preprocessing.
	Preprocess Preprocess
	// Width and Height are the model's input size.
	Width, Height int
	// Augment adds a mirrored and a centre-cropped view of every image,
	// which triples a small image set for calibration (the views
	// "full,mirror,crop"). Views, when set, replaces it.
	Augment bool
	// Views lists the views taken of every image (see ParseViews); nil
	// means the full image, plus Augment's views.
	Views []View
	// Limit caps the samples read (0: all).
	Limit int
}

// IsImage reports whether a file name has an image extension LoadImages
// reads.
func IsImage(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// LoadImages reads samples from a folder of images (.jpg, .png) or one
// image, each image giving one sample per view.
func LoadImages(path string, opts ImageOptions) ([]compare.Sample, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		if !IsImage(path) {
			return nil, fmt.Errorf("data: %s is not a folder of images or an image", path)
		}
		out, err := loadImage(path, opts)
		if err != nil {
			return nil, err
		}
		return compare.Limit(out, opts.Limit), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var out []compare.Sample
	for _, e := range entries {
		if e.IsDir() || !IsImage(e.Name()) {
			continue
		}
		s, err := loadImage(filepath.Join(path, e.Name()), opts)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: no .jpg or .png images in %s", path)
	}
	return compare.Limit(out, opts.Limit), nil
}

func loadImage(path string, opts ImageOptions) ([]compare.Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("data: decode %s: %w", path, err)
	}
	return ImageSamples(filepath.Base(path), img, opts)
}

// ImageSamples turns a decoded image (a file, a video frame) into samples,
// one per view in opts (see DataOptions.Views), named name plus the view's
// suffix.
func ImageSamples(name string, img image.Image, opts ImageOptions) ([]compare.Sample, error) {
	if opts.Width <= 0 || opts.Height <= 0 {
		return nil, fmt.Errorf("data: image %s needs a model input size", name)
	}
	src := toRGB(img)
	views := opts.Views
	if views == nil {
		views = []View{{Name: "full"}}
		if opts.Augment {
			views = append(views, View{Name: "mirror", Mirror: true}, View{Name: "crop", Crop: 0.75, X: 0.5, Y: 0.5})
		}
	}
	var out []compare.Sample
	for _, v := range views {
		t, _, err := opts.Preprocess.Tensor(v.apply(src), opts.Width, opts.Height)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		suffix := ""
		if v.Name != "full" {
			suffix = "#" + v.Name
		}
		out = append(out, compare.Sample{Name: name + suffix, Inputs: []models.Tensor{t}})
	}
	return out, nil
}

// rgbImage is an 8-bit RGB image, row-major, 3 bytes a pixel.
type rgbImage struct {
	w, h int
	pix  []uint8
}

func toRGB(img image.Image) *rgbImage {
	b := img.Bounds()
	out := &rgbImage{w: b.Dx(), h: b.Dy(), pix: make([]uint8, 3*b.Dx()*b.Dy())}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out.pix[i], out.pix[i+1], out.pix[i+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
			i += 3
		}
	}
	return out
}

func (m *rgbImage) mirror() *rgbImage {
	out := &rgbImage{w: m.w, h: m.h, pix: make([]uint8, len(m.pix))}
	for y := range m.h {
		for x := range m.w {
			copy(out.pix[3*(y*m.w+x):3*(y*m.w+x)+3], m.pix[3*(y*m.w+m.w-1-x):])
		}
	}
	return out
}

// crop keeps the fraction f of each side, placed at (ax, ay): 0 is the
// left/top edge, 0.5 the centre, 1 the right/bottom edge.
func (m *rgbImage) crop(f, ax, ay float64) *rgbImage {
	w, h := max(1, int(float64(m.w)*f)), max(1, int(float64(m.h)*f))
	x0, y0 := int(float64(m.w-w)*ax), int(float64(m.h-h)*ay)
	out := &rgbImage{w: w, h: h, pix: make([]uint8, 3*w*h)}
	for y := range h {
		copy(out.pix[3*y*w:3*(y+1)*w], m.pix[3*((y0+y)*m.w+x0):])
	}
	return out
}

// bilinear samples channel c at (x, y) in source pixels.
func (m *rgbImage) bilinear(x, y float64, c int) float32 {
	x = math.Max(0, math.Min(x, float64(m.w-1)))
	y = math.Max(0, math.Min(y, float64(m.h-1)))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, m.w-1), min(y0+1, m.h-1)
	fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
	at := func(xx, yy int) float32 { return float32(m.pix[3*(yy*m.w+xx)+c]) }
	top := at(x0, y0)*(1-fx) + at(x1, y0)*fx
	bot := at(x0, y1)*(1-fx) + at(x1, y1)*fx
	return top*(1-fy) + bot*fy
}

// Tensor resizes (letterboxes) img to w×h and returns the normalised
// [1,3,h,w] tensor and the mapping back to the image.
func (p Preprocess) Tensor(img *rgbImage, w, h int) (models.Tensor, vision.Letterbox, error) {
	var lb vision.Letterbox
	var err error
	if p.Letterbox {
		lb, err = vision.FitLetterbox(img.w, img.h, w, h, p.Place)
	} else {
		lb, err = vision.Stretch(img.w, img.h, w, h)
	}
	if err != nil {
		return models.Tensor{}, lb, err
	}
	rw, rh := lb.Resized()
	std := p.Std
	for i := range std {
		if std[i] == 0 {
			std[i] = 1
		}
	}
	data := make([]float32, 3*w*h)
	for c := range 3 {
		src := c // RGB source channel
		if p.BGR {
			src = 2 - c
		}
		pad := (p.Pad - p.Mean[c]) / std[c]
		// Element (y, x) of channel c is at base + y*w*step + x*step.
		base, step := c*w*h, 1
		if p.NHWC {
			base, step = c, 3
		}
		for y := range h {
			for x := range w {
				at := base + (y*w+x)*step
				ix, iy := x-int(lb.PadX), y-int(lb.PadY)
				if ix < 0 || iy < 0 || ix >= rw || iy >= rh {
					data[at] = pad
					continue
				}
				sx := (float64(ix)+0.5)/lb.ScaleX - 0.5
				sy := (float64(iy)+0.5)/lb.ScaleY - 0.5
				data[at] = (img.bilinear(sx, sy, src) - p.Mean[c]) / std[c]
			}
		}
	}
	if p.NHWC {
		return models.Tensor{Shape: []int64{1, int64(h), int64(w), 3}, Data: data}, lb, nil
	}
	return models.Tensor{Shape: []int64{1, 3, int64(h), int64(w)}, Data: data}, lb, nil
}
