//go:build gocv

package image

import (
	"context"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
	"gocv.io/x/gocv"
)

type collect struct{ got []*pipeline.Message }

func (c *collect) Emit(m *pipeline.Message) { c.got = append(c.got, m) }

// FuzzDecodePayload: a message whose payload is an encoded image (a frame
// published over MQTT or NATS) is decoded by OpenCV here. Any bytes either
// give a tensor of the model's size or an error, never a panic, and every
// Mat made on the way is closed again (counted under the matprofile tag).
func FuzzDecodePayload(f *testing.F) {
	img := gocv.NewMatWithSize(6, 8, gocv.MatTypeCV8UC3)
	for y := range 6 {
		for x := range 8 {
			img.SetUCharAt(y, x*3, uint8(30*x))
			img.SetUCharAt(y, x*3+1, uint8(40*y))
			img.SetUCharAt(y, x*3+2, uint8(x*y))
		}
	}
	st := NewStage(Options{Width: 16, Height: 12, Pad: [3]float64{114, 114, 114}, Std: [3]float64{1, 1, 1}, RGB: true},
		"frame", "tensor", "_shape", "letterbox")
	f.Cleanup(func() { st.Close(context.Background()) })
	for _, ext := range []gocv.FileExt{gocv.JPEGFileExt, gocv.PNGFileExt, ".bmp", ".ppm", ".webp", ".tiff"} {
		buf, err := gocv.IMEncode(ext, img)
		if err != nil {
			f.Fatalf("encode %s: %v", ext, err)
		}
		seed := append([]byte(nil), buf.GetBytes()...)
		buf.Close()
		err = st.Process(context.Background(), pipeline.NewMessage(seed), &collect{})
		switch taken := ext != ".webp" && ext != ".tiff"; {
		case taken && err != nil:
			f.Fatalf("the %s seed does not decode: %v", ext, err)
		case !taken && (err == nil || !strings.Contains(err.Error(), "not a JPEG, PNG, BMP")):
			f.Fatalf("the %s seed: %v, want it refused as a format the stage does not take", ext, err)
		}
		f.Add(seed)
	}
	img.Close()
	f.Add([]byte("P6\n2 1\n255\nabcdef"))
	f.Add([]byte("P5 # grey\n2 1 255\nab"))
	f.Add([]byte{})

	before := -2
	f.Fuzz(func(t *testing.T, payload []byte) {
		var out collect
		err := st.Process(context.Background(), pipeline.NewMessage(payload), &out)
		if err == nil {
			if len(out.got) != 1 {
				t.Fatalf("decoded, but emitted %d messages", len(out.got))
			}
			if data, _ := out.got[0].Fields["tensor"].([]float32); len(data) != 3*16*12 {
				t.Fatalf("tensor of %d values, want %d", len(data), 3*16*12)
			}
		} else if len(out.got) != 0 {
			t.Fatalf("failed (%v), but emitted", err)
		}
		// The stage keeps one set of scratch Mats; past the first call the
		// count of live Mats does not move.
		n := liveMats()
		if before == -2 {
			before = n
		}
		if n != before {
			t.Fatalf("%d live Mats after this payload, %d before: a Mat leaked", n, before)
		}
	})
}
