//go:build gocv

#include <cstdio>
#include <exception>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "decode.h"

// gocv's IMDecode lets an exception through to cgo, which aborts the
// process: a BMP header claiming a width above OpenCV's limit was enough
// (found by FuzzDecodePayload). Here every exception is an error.
int edgeflow_imdecode(const unsigned char *buf, int len, int flags, void *dst, char *err, int errlen) {
    try {
        cv::Mat raw(1, len, CV_8UC1, const_cast<unsigned char *>(buf));
        cv::imdecode(raw, flags, static_cast<cv::Mat *>(dst));
        return 0;
    } catch (const cv::Exception &e) {
        std::snprintf(err, errlen, "OpenCV: %s in %s", e.err.c_str(), e.func.c_str());
    } catch (const std::exception &e) {
        std::snprintf(err, errlen, "OpenCV: %s", e.what());
    } catch (...) {
        std::snprintf(err, errlen, "OpenCV: unknown exception");
    }
    return 1;
}
