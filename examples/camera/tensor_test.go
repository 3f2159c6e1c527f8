//go:build gocv

package camera_test

import (
	"context"
	"image"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/edgeflow/edgeflow/pipeline"
	imagestage "github.com/edgeflow/edgeflow/stages/image"
	"github.com/edgeflow/edgeflow/vision/frame"
	"gocv.io/x/gocv"
)

type emitted []*pipeline.Message

func (e *emitted) Emit(m *pipeline.Message) { *e = append(*e, m) }

// The image stage writes a frame's tensor in place into a pooled buffer
// that comes back when the frame is released, and the values are
// BlobFromImages' own.
func TestImageTensorInPlaceAndRecycled(t *testing.T) {
	need(t, media+"/messi5.jpg")
	st := imagestage.NewStage(imagestage.Options{Width: 416, Height: 416, Pad: [3]float64{114, 114, 114}, Std: [3]float64{1, 1, 1}},
		"frame", "images", "_shape", "letterbox")
	process := func(f *frame.Frame) []float32 {
		t.Helper()
		var out emitted
		m := pipeline.NewMessage(nil)
		m.Fields = map[string]any{"frame": f}
		if err := st.Process(context.Background(), m, &out); err != nil || len(out) != 1 {
			t.Fatalf("process: %v (%d emitted)", err, len(out))
		}
		data, _ := out[0].Fields["images"].([]float32)
		if len(data) != 3*416*416 {
			t.Fatalf("tensor has %d values", len(data))
		}
		return data
	}
	img := gocv.IMRead(media+"/messi5.jpg", gocv.IMReadColor)
	want := reference(t, img)
	a := frame.New(img, "still", 0, time.Now())
	first := process(a)
	if !slices.Equal(first, want) {
		t.Fatal("tensor differs from Resize + CopyMakeBorder + BlobFromImages")
	}
	// While the first frame is held, a second frame gets another buffer.
	b := frame.New(gocv.NewMatWithSize(100, 200, gocv.MatTypeCV8UC3), "blank", 1, time.Now())
	second := process(b)
	if unsafe.SliceData(second) == unsafe.SliceData(first) {
		t.Fatal("a buffer still in use was handed out again")
	}
	if !slices.Equal(first, want) {
		t.Fatal("the first tensor changed while its frame was held")
	}
	// Once released, the buffer is reused (no allocation per frame).
	a.Release()
	c := frame.New(gocv.NewMatWithSize(100, 200, gocv.MatTypeCV8UC3), "blank", 2, time.Now())
	if third := process(c); unsafe.SliceData(third) != unsafe.SliceData(first) {
		t.Fatal("the released frame's buffer was not reused")
	}
	// Convert's tensor belongs to the caller.
	img2 := gocv.IMRead(media+"/messi5.jpg", gocv.IMReadColor)
	defer img2.Close()
	own, _, _, err := st.Convert(img2)
	if err != nil || !slices.Equal(own, want) {
		t.Fatalf("Convert: %v, equal %v", err, slices.Equal(own, want))
	}
	// Frames released after Close free their buffers (matprofile: no Mat
	// is left open at the end of the suite).
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Release()
	c.Release()
	if _, _, _, err := st.Convert(img2); err == nil {
		t.Fatal("Convert after Close succeeded")
	}
}

// reference is the YOLOX input computed with OpenCV directly.
func reference(t *testing.T, img gocv.Mat) []float32 {
	t.Helper()
	resized, padded, blob := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer resized.Close()
	defer padded.Close()
	defer blob.Close()
	scale := min(416/float64(img.Cols()), 416/float64(img.Rows()))
	w, h := int(float64(img.Cols())*scale+0.5), int(float64(img.Rows())*scale+0.5)
	gocv.Resize(img, &resized, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	gocv.CopyMakeBorder(resized, &padded, 0, 416-h, 0, 416-w, gocv.BorderConstant, colorGrey)
	gocv.BlobFromImages([]gocv.Mat{padded}, &blob, 1, image.Pt(416, 416), gocv.NewScalar(0, 0, 0, 0), false, false, gocv.MatTypeCV32F)
	data, err := blob.DataPtrFloat32()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(data)
}
