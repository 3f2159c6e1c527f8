//go:build gocv

package image

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
)

// maxPixels bounds the images the stage decodes from payloads. A few bytes
// can declare a huge image, which OpenCV then allocates and fills: a
// 248-byte TIFF decoded to 12294x12336 pixels (455 MB, 8 s; found by
// FuzzDecodePayload). 8K UHD (7680x4320) fits.
const maxPixels = 1 << 25

// checkHeader reads the size an encoded image declares and refuses it when
// it is larger than maxPixels, or when the format is not one the stage
// takes: JPEG, PNG, BMP or PBM/PGM/PPM, whose headers are read here before
// OpenCV allocates anything. (OpenCV picks its decoder by the same
// signatures, so both read the same header.)
func checkHeader(b []byte) error {
	format, w, h, err := declaredSize(b)
	if err != nil {
		return err
	}
	if w <= 0 || h <= 0 || int64(w)*int64(h) > maxPixels {
		return fmt.Errorf("%s declares %dx%d pixels; the image stage decodes up to %d", format, w, h, maxPixels)
	}
	return nil
}

func declaredSize(b []byte) (format string, w, h int, err error) {
	var c image.Config
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		c, err = jpeg.DecodeConfig(bytes.NewReader(b))
		return "JPEG", c.Width, c.Height, wrap("JPEG", err)
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		c, err = png.DecodeConfig(bytes.NewReader(b))
		return "PNG", c.Width, c.Height, wrap("PNG", err)
	case bytes.HasPrefix(b, []byte("BM")):
		w, h, err = bmpSize(b)
		return "BMP", w, h, err
	case len(b) > 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && isSpace(b[2]):
		w, h, err = pnmSize(b[2:])
		return "PNM", w, h, err
	}
	return "", 0, 0, errors.New("not a JPEG, PNG, BMP or PBM/PGM/PPM image")
}

func wrap(format string, err error) error {
	if err != nil {
		return fmt.Errorf("%s header: %w", format, err)
	}
	return nil
}

// bmpSize reads a BMP's info header: 16-bit sizes in the old OS/2 one (12
// bytes), 32-bit ones otherwise; a negative height is a top-down image.
func bmpSize(b []byte) (int, int, error) {
	le32 := func(o int) int32 {
		return int32(uint32(b[o]) | uint32(b[o+1])<<8 | uint32(b[o+2])<<16 | uint32(b[o+3])<<24)
	}
	if len(b) < 18 {
		return 0, 0, errors.New("BMP header: truncated")
	}
	if le32(14) == 12 {
		if len(b) < 22 {
			return 0, 0, errors.New("BMP header: truncated")
		}
		return int(uint16(b[18]) | uint16(b[19])<<8), int(uint16(b[20]) | uint16(b[21])<<8), nil
	}
	if len(b) < 26 {
		return 0, 0, errors.New("BMP header: truncated")
	}
	w, h := int(le32(18)), int(le32(22))
	if h < 0 {
		h = -h
	}
	return w, h, nil
}

// pnmSize reads the width and height after a PBM/PGM/PPM magic number:
// decimal numbers separated by whitespace, with # comments to the end of
// the line, as OpenCV reads them.
func pnmSize(b []byte) (int, int, error) {
	var dims [2]int
	for i := range dims {
		for len(b) > 0 && (isSpace(b[0]) || b[0] == '#') {
			if b[0] == '#' {
				if j := bytes.IndexAny(b, "\r\n"); j >= 0 {
					b = b[j:]
				} else {
					b = nil
				}
				continue
			}
			b = b[1:]
		}
		n := 0
		for ; n < len(b) && b[n] >= '0' && b[n] <= '9'; n++ {
			if dims[i] > maxPixels {
				return 0, 0, errors.New("PNM header: size too large")
			}
			dims[i] = dims[i]*10 + int(b[n]-'0')
		}
		if n == 0 {
			return 0, 0, errors.New("PNM header: no size")
		}
		b = b[n:]
	}
	return dims[0], dims[1], nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
