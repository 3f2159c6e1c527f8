//go:build gocv

package annotate

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/edgeflow/edgeflow/vision"
	"github.com/edgeflow/edgeflow/vision/frame"
	"github.com/rs/zerolog"
	"gocv.io/x/gocv"
)

// job is one frame to draw; the job holds a reference on f.
type job struct {
	f    *frame.Frame
	dets []vision.Detection
	file bool // write it to dir
}

// mailbox holds the newest job for the worker: like the camera's slot, a
// newer frame replaces one still waiting.
type mailbox struct {
	mu     sync.Mutex
	j      *job
	closed bool
	ready  chan struct{}
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

// put hands j over. A job it replaces is released; it reports whether one
// was. After close, j is released at once.
func (b *mailbox) put(j job) (replaced bool) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		j.f.Release()
		return false
	}
	old := b.j
	b.j = &j
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	if old != nil {
		old.f.Release()
		return true
	}
	return false
}

// take waits for a job; ok is false once the mailbox is closed and empty.
func (b *mailbox) take() (job, bool) {
	for {
		b.mu.Lock()
		j, closed := b.j, b.closed
		b.j = nil
		b.mu.Unlock()
		if j != nil {
			return *j, true
		}
		if closed {
			return job{}, false
		}
		<-b.ready
	}
}

func (b *mailbox) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// worker draws and encodes frames; it owns the canvas Mat.
type worker struct {
	opts    *options
	log     zerolog.Logger
	metrics *metrics
	stream  *broadcaster
	written []string // files this sink wrote, oldest first
	madeDir bool
}

func (w *worker) run(mail *mailbox) {
	canvas := gocv.NewMat()
	defer canvas.Close()
	for {
		j, ok := mail.take()
		if !ok {
			return
		}
		cam, id := j.f.Camera, j.f.ID
		j.f.Mat.CopyTo(&canvas) // never draw on the shared frame
		j.f.Release()
		draw(&canvas, j.dets, w.opts)
		data, err := encodeJPEG(canvas, w.opts.quality)
		if err != nil {
			w.metrics.frames.WithLabelValues("error").Inc()
			w.log.Error().Err(err).Str("camera", cam).Uint64("frame_id", id).Msg("annotate: encoding failed")
			continue
		}
		w.metrics.frames.WithLabelValues("drawn").Inc()
		w.stream.publish(data)
		if j.file {
			if err := w.writeFile(cam, id, data); err != nil {
				w.metrics.frames.WithLabelValues("file_error").Inc()
				w.log.Error().Err(err).Msg("annotate: writing the JPEG file")
			}
		}
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// writeFile writes <dir>/<camera>-<id>.jpg atomically and removes the
// oldest files beyond keep.
func (w *worker) writeFile(cam string, id uint64, data []byte) error {
	dir := w.opts.dir
	if !w.madeDir {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		w.madeDir = true
	}
	if cam == "" {
		cam = "camera"
	}
	name := filepath.Join(dir, fmt.Sprintf("%s-%09d.jpg", unsafeChars.ReplaceAllString(cam, "_"), id))
	tmp, err := os.CreateTemp(dir, ".annotate-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	w.written = append(w.written, name)
	for w.opts.keep > 0 && len(w.written) > w.opts.keep {
		if err := os.Remove(w.written[0]); err != nil && !os.IsNotExist(err) {
			w.log.Warn().Err(err).Msg("annotate: removing an old JPEG file")
		}
		w.written = w.written[1:]
	}
	return nil
}

// encodeJPEG encodes m with OpenCV and copies the bytes out of C memory.
func encodeJPEG(m gocv.Mat, quality int) ([]byte, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, fmt.Errorf("JPEG encoding: %w", err)
	}
	defer buf.Close()
	return bytes.Clone(buf.GetBytes()), nil
}

// palette gives each class its own colour (class id modulo its length).
var palette = []color.RGBA{
	{255, 56, 56, 0}, {255, 157, 151, 0}, {255, 112, 31, 0}, {255, 178, 29, 0}, {207, 210, 49, 0},
	{72, 249, 10, 0}, {146, 204, 23, 0}, {61, 219, 134, 0}, {26, 147, 52, 0}, {0, 212, 187, 0},
	{44, 153, 168, 0}, {0, 194, 255, 0}, {52, 69, 147, 0}, {100, 115, 255, 0}, {0, 24, 236, 0},
	{132, 56, 255, 0}, {82, 0, 133, 0}, {203, 56, 255, 0}, {255, 149, 200, 0}, {255, 55, 199, 0},
}

func colorOf(o *options, class int) color.RGBA {
	if o.color != nil {
		return color.RGBA{R: o.color[0], G: o.color[1], B: o.color[2]}
	}
	return palette[((class%len(palette))+len(palette))%len(palette)]
}

// draw puts each detection's box and label ("person 0.87") on m.
func draw(m *gocv.Mat, dets []vision.Detection, o *options) {
	const font = gocv.FontHersheySimplex
	for _, d := range dets {
		c := colorOf(o, d.ClassID)
		r := image.Rect(round(d.Box.X1), round(d.Box.Y1), round(d.Box.X2), round(d.Box.Y2))
		gocv.Rectangle(m, r, c, o.thickness)
		label := fmt.Sprintf("%s %.2f", d.Class, d.Score)
		size, base := gocv.GetTextSizeWithBaseline(label, font, o.fontScale, 1)
		// Above the box, or inside its top when there is no room.
		y := r.Min.Y - o.thickness/2 - base - 1
		if y-size.Y < 0 {
			y = r.Min.Y + o.thickness/2 + size.Y + 1
		}
		gocv.Rectangle(m, image.Rect(r.Min.X, y-size.Y-1, r.Min.X+size.X+2, y+base), c, -1)
		gocv.PutText(m, label, image.Pt(r.Min.X+1, y), font, o.fontScale, textOn(c), 1)
	}
}

// textOn is black on light colours, white on dark ones.
func textOn(c color.RGBA) color.RGBA {
	if 0.299*float64(c.R)+0.587*float64(c.G)+0.114*float64(c.B) > 140 {
		return color.RGBA{}
	}
	return color.RGBA{R: 255, G: 255, B: 255}
}

func round(v float32) int { return int(math.Round(float64(v))) }
