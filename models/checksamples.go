package models

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// CheckSamplesKey is the ONNX metadata_props key under which the quantiser
// stores the inputs the kernel check runs (see EncodeCheckSamples).
const CheckSamplesKey = "edgeflow.kernel_check.samples"

// thumbLimit is the number of values up to which a stored sample tensor is
// kept whole; larger ones (images) are stored as a thumbnail of at most
// about this many values in total.
const thumbLimit = 4096

// maxSampleValues bounds the values a stored sample may claim.
const maxSampleValues = 1 << 28

// storedTensor is one sample input in the metadata: small tensors as
// float32, large ones as a box-averaged uint8 thumbnail of their last two
// dimensions, scaled back to [Lo, Hi] and upsampled bilinearly on decode.
type storedTensor struct {
	Shape []int64 `json:"shape"`
	F32   string  `json:"f32,omitempty"` // base64 little-endian float32
	// Grid is the thumbnail's shape (the last two dimensions reduced).
	Grid []int64 `json:"grid,omitempty"`
	Lo   float32 `json:"lo,omitempty"`
	Hi   float32 `json:"hi,omitempty"`
	U8   string  `json:"u8,omitempty"` // base64 deflate of the uint8 thumbnail
}

type storedSamples struct {
	Version int              `json:"version"`
	Samples [][]storedTensor `json:"samples"`
}

// EncodeCheckSamples turns model inputs into the compact text stored under
// CheckSamplesKey. Inputs of more than a few thousand values (images) are
// stored as small thumbnails, so a sample costs a few kilobytes: the check
// needs inputs whose activations look like real data, not the data itself,
// since it compares two executions of the same model on the same input.
func EncodeCheckSamples(samples [][]Tensor) (string, error) {
	st := storedSamples{Version: 1}
	for _, s := range samples {
		var enc []storedTensor
		for _, t := range s {
			e, err := encodeTensor(t)
			if err != nil {
				return "", err
			}
			enc = append(enc, e)
		}
		st.Samples = append(st.Samples, enc)
	}
	b, err := json.Marshal(st)
	return string(b), err
}

// DecodeCheckSamples reverses EncodeCheckSamples (thumbnails come back at
// full size, upsampled).
func DecodeCheckSamples(s string) ([][]Tensor, error) {
	var st storedSamples
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, fmt.Errorf("kernel check samples: %w", err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("kernel check samples: unknown version %d", st.Version)
	}
	out := make([][]Tensor, len(st.Samples))
	for i, s := range st.Samples {
		for j, e := range s {
			t, err := decodeTensor(e)
			if err != nil {
				return nil, fmt.Errorf("kernel check sample %d input %d: %w", i+1, j+1, err)
			}
			out[i] = append(out[i], t)
		}
	}
	return out, nil
}

func encodeTensor(t Tensor) (storedTensor, error) {
	n := Elements(t.Shape)
	if n != int64(len(t.Data)) {
		return storedTensor{}, fmt.Errorf("tensor shape %v needs %d values, has %d", t.Shape, n, len(t.Data))
	}
	e := storedTensor{Shape: t.Shape}
	if n <= thumbLimit || len(t.Shape) < 2 {
		b := make([]byte, 4*len(t.Data))
		for i, v := range t.Data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		e.F32 = base64.StdEncoding.EncodeToString(b)
		return e, nil
	}
	r := len(t.Shape)
	h, w := int(t.Shape[r-2]), int(t.Shape[r-1])
	planes := int(n) / (h * w)
	f := max(1, int(math.Ceil(math.Sqrt(float64(n)/thumbLimit))))
	gh, gw := (h+f-1)/f, (w+f-1)/f
	e.Grid = append(append([]int64{}, t.Shape[:r-2]...), int64(gh), int64(gw))
	lo, hi := t.Data[0], t.Data[0]
	for _, v := range t.Data {
		lo, hi = min(lo, v), max(hi, v)
	}
	e.Lo, e.Hi = lo, hi
	thumb := make([]byte, planes*gh*gw)
	for p := range planes {
		for y := range gh {
			for x := range gw {
				var sum float64
				var cnt int
				for yy := y * f; yy < min(h, (y+1)*f); yy++ {
					for xx := x * f; xx < min(w, (x+1)*f); xx++ {
						sum += float64(t.Data[(p*h+yy)*w+xx])
						cnt++
					}
				}
				v := 0.0
				if hi > lo {
					v = (sum/float64(cnt) - float64(lo)) / float64(hi-lo) * 255
				}
				thumb[(p*gh+y)*gw+x] = uint8(math.Round(min(255, max(0, v))))
			}
		}
	}
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	zw.Write(thumb)
	zw.Close()
	e.U8 = base64.StdEncoding.EncodeToString(buf.Bytes())
	return e, nil
}

func decodeTensor(e storedTensor) (Tensor, error) {
	n, ok := BoundedElements(e.Shape, maxSampleValues) // the shape comes from a model file
	if !ok {
		return Tensor{}, fmt.Errorf("bad shape %v", e.Shape)
	}
	if e.F32 != "" {
		b, err := base64.StdEncoding.DecodeString(e.F32)
		if err != nil || int64(len(b)) != 4*n {
			return Tensor{}, fmt.Errorf("float32 data does not fit shape %v", e.Shape)
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return Tensor{Shape: e.Shape, Data: data}, nil
	}
	r := len(e.Shape)
	if len(e.Grid) != r || r < 2 {
		return Tensor{}, fmt.Errorf("thumbnail grid %v does not fit shape %v", e.Grid, e.Shape)
	}
	h, w := int(e.Shape[r-2]), int(e.Shape[r-1])
	gh, gw := int(e.Grid[r-2]), int(e.Grid[r-1])
	planes := int(n) / (h * w)
	z, err := base64.StdEncoding.DecodeString(e.U8)
	if err != nil {
		return Tensor{}, err
	}
	thumb, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), int64(planes*gh*gw)+1))
	if err != nil {
		return Tensor{}, err
	}
	if gh <= 0 || gw <= 0 || len(thumb) != planes*gh*gw {
		return Tensor{}, fmt.Errorf("thumbnail has %d values, grid %v wants %d", len(thumb), e.Grid, planes*max(gh, 0)*max(gw, 0))
	}
	data := make([]float32, n)
	scale := (e.Hi - e.Lo) / 255
	f := float64(h) / float64(gh)
	for p := range planes {
		for y := range h {
			// Sample the thumbnail at the pixel centre (bilinear).
			sy := min(max((float64(y)+0.5)/f-0.5, 0), float64(gh-1))
			y0 := int(sy)
			y1, fy := min(y0+1, gh-1), float32(sy-float64(y0))
			for x := range w {
				sx := min(max((float64(x)+0.5)*float64(gw)/float64(w)-0.5, 0), float64(gw-1))
				x0 := int(sx)
				x1, fx := min(x0+1, gw-1), float32(sx-float64(x0))
				at := func(yy, xx int) float32 { return float32(thumb[(p*gh+yy)*gw+xx]) }
				v := (at(y0, x0)*(1-fx)+at(y0, x1)*fx)*(1-fy) + (at(y1, x0)*(1-fx)+at(y1, x1)*fx)*fy
				data[(p*h+y)*w+x] = e.Lo + v*scale
			}
		}
	}
	return Tensor{Shape: e.Shape, Data: data}, nil
}
