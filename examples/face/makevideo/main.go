//go:build gocv

// Command makevideo writes the face example's test video (see
// face.MakeVideo): go run -tags gocv ./examples/face/makevideo.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgeflow/edgeflow/examples/face"
)

func main() {
	media := flag.String("media", "../shared/media", "folder with messi5.jpg and basketball1.png")
	out := flag.String("out", ".cache/media/faces.avi", "video to write")
	size := flag.Int("size", 320, "frame width and height")
	frames := flag.Int("frames", 60, "frames per shot")
	flag.Parse()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := face.MakeVideo(*media, *out, *size, *frames); err != nil {
		fmt.Fprintln(os.Stderr, "makevideo:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", *out)
}
