//go:build gocv

package face

import (
	"fmt"
	"image"
	"path/filepath"

	"gocv.io/x/gocv"
)

// Shot is a slow camera pan over part of a still: a square window of Size
// pixels moving from (X0, Y0) to (X1, Y1).
type Shot struct {
	Image          string
	X0, Y0, X1, Y1 int
	Size           int
}

// Shots are pans over the people of the shared media (OpenCV's sample
// images): Messi's face in messi5.jpg and the player facing the camera in
// basketball1.png, close enough for the short-range model.
var Shots = []Shot{
	{Image: "messi5.jpg", X0: 160, Y0: 40, X1: 200, Y1: 60, Size: 140},
	{Image: "basketball1.png", X0: 0, Y0: 40, X1: 40, Y1: 70, Size: 180},
}

// MakeVideo writes an MJPEG AVI of w×w frames at 10 fps: framesPerShot
// frames of every shot, the window moving linearly, each frame the window's
// pixels scaled to w×w. The faces are real; the motion is synthetic (the
// shared media has no video with faces close to the camera).
func MakeVideo(mediaDir, out string, w, framesPerShot int) error {
	vw, err := gocv.VideoWriterFile(out, "MJPG", 10, w, w, true)
	if err != nil {
		return fmt.Errorf("video writer %s: %w", out, err)
	}
	defer vw.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	for _, s := range Shots {
		img := gocv.IMRead(filepath.Join(mediaDir, s.Image), gocv.IMReadColor)
		if img.Empty() {
			img.Close()
			return fmt.Errorf("cannot read %s", filepath.Join(mediaDir, s.Image))
		}
		for i := range framesPerShot {
			f := float64(i) / float64(max(framesPerShot-1, 1))
			x := s.X0 + int(f*float64(s.X1-s.X0))
			y := s.Y0 + int(f*float64(s.Y1-s.Y0))
			r := image.Rect(x, y, x+s.Size, y+s.Size).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
			roi := img.Region(r)
			gocv.Resize(roi, &frame, image.Pt(w, w), 0, 0, gocv.InterpolationLinear)
			roi.Close()
			if err := vw.Write(frame); err != nil {
				img.Close()
				return fmt.Errorf("write frame: %w", err)
			}
		}
		img.Close()
	}
	return nil
}
