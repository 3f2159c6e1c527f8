// The image stage's payload decoder: cv::imdecode behind a C interface
// that turns OpenCV's exceptions into an error instead of an abort.
#ifndef EDGEFLOW_IMAGE_DECODE_H
#define EDGEFLOW_IMAGE_DECODE_H
#ifdef __cplusplus
extern "C" {
#endif

// edgeflow_imdecode decodes len bytes at buf into dst (a cv::Mat*) with
// imdecode's flags. It returns 0, or 1 with OpenCV's reason in err.
int edgeflow_imdecode(const unsigned char *buf, int len, int flags, void *dst, char *err, int errlen);

#ifdef __cplusplus
}
#endif
#endif
