#pragma once
// Between the public API's plain types and the library's internal ones (cv::Mat, CropGeometry, ...).
#include <opencv2/core.hpp>

#include <exception>
#include <string>

#include "image/preprocess.hpp"
#include "vitvk/error.hpp"
#include "vitvk/explain.hpp"
#include "vitvk/image.hpp"

namespace vitvk::api {

// The view's row stride in bytes, after checking it (pointer, size, stride, format). `what` names the image in
// errors ("image 3"). Throws Error(InvalidArgument).
std::size_t checked_stride(const ImageView& view, const std::string& what);

// The view as 8-bit RGB (CV_8UC3). An Rgb8 view is wrapped without a copy, so the result may alias the caller's
// pixels: read it only. `what` names the image in errors ("image 3"). Throws Error(InvalidArgument).
cv::Mat rgb_of(const ImageView& view, const std::string& what);

CropRegion to_public(const CropGeometry& g);
CropGeometry to_internal(const CropRegion& c);

// Runs f, turning anything but a vitvk::Error into one, so that every public entry point throws only Error:
// bad_alloc -> OutOfMemory, other exceptions (OpenCV, the standard library) -> Internal with `what` prefixed.
template <class F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Internal, std::string(what) + ": " + e.what());
  }
}

}  // namespace vitvk::api
