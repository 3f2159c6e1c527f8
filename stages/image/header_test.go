//go:build gocv

package image

import (
	"encoding/binary"
	"strings"
	"testing"
)

// A small header can declare a huge image: it is refused before OpenCV
// allocates it, and formats whose headers are not read here are refused.
func TestCheckHeaderRefusesBombs(t *testing.T) {
	bmp := func(w, h int32) []byte {
		b := make([]byte, 54)
		copy(b, "BM")
		binary.LittleEndian.PutUint32(b[14:], 40)
		binary.LittleEndian.PutUint32(b[18:], uint32(w))
		binary.LittleEndian.PutUint32(b[22:], uint32(h))
		return b
	}
	for _, c := range []struct {
		name string
		data []byte
		want string // "" accepts
	}{
		{"bmp 640x480", bmp(640, 480), ""},
		{"bmp top-down", bmp(640, -480), ""},
		{"bmp 18000x18000", bmp(18000, 18000), "declares 18000x18000"},
		{"bmp zero width", bmp(0, 10), "declares 0x10"},
		{"ppm with a comment", []byte("P6\n# c\n8000 4000\n255\n"), ""},
		{"ppm 100000x100000", []byte("P6 100000 100000 255\n"), "declares 100000x100000"},
		{"pgm overflowing", []byte("P5 99999999999999999999 1 255\n"), "too large"},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), "not a JPEG, PNG, BMP"},
		{"truncated jpeg", []byte("\xff\xd8\xff\xe0"), "JPEG header"},
	} {
		err := checkHeader(c.data)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
