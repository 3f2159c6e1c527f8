//go:build gocv

package image

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "decode.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"gocv.io/x/gocv"
)

// decode decodes an encoded image (JPEG, PNG, BMP or PBM/PGM/PPM, up to
// maxPixels) into a BGR Mat the caller closes. Bad bytes are an error,
// never a crash: OpenCV's exceptions come back as errors, and the Mat is
// closed on every error.
func decode(payload []byte) (gocv.Mat, error) {
	if len(payload) == 0 {
		return gocv.Mat{}, errors.New("empty payload")
	}
	if err := checkHeader(payload); err != nil {
		return gocv.Mat{}, err
	}
	img := gocv.NewMat()
	var msg [256]C.char
	if C.edgeflow_imdecode((*C.uchar)(unsafe.Pointer(&payload[0])), C.int(len(payload)), C.int(gocv.IMReadColor),
		unsafe.Pointer(img.Ptr()), &msg[0], C.int(len(msg))) != 0 {
		img.Close()
		return gocv.Mat{}, errors.New(C.GoString(&msg[0]))
	}
	if img.Empty() {
		img.Close()
		return gocv.Mat{}, errors.New("OpenCV cannot decode it")
	}
	return img, nil
}
