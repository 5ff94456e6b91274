#pragma once
// Python objects -> vitvk::ImageView, without copying pixels: a numpy uint8 array is viewed in place when each row
// is contiguous (any row stride, so crops like a[y0:y1, x0:x1] stay zero-copy); paths are decoded later, with the
// GIL released. Everything the views point into is owned by an Inputs, which must outlive the C++ call.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <string>
#include <vector>

#include "vitvk/image.hpp"

namespace vitvk::python {

namespace py = pybind11;

class Inputs {
 public:
  // `items`: a Python sequence whose elements are str (a file path) or numpy arrays. Needs the GIL. Throws
  // py::value_error (bad dtype / shape / strides, empty list) or py::type_error (another kind of object), naming
  // the item's position.
  Inputs(const py::sequence& items, bool bgr);
  Inputs(const Inputs&) = delete;
  Inputs& operator=(const Inputs&) = delete;

  // Decodes the paths (Image::load: same decoding as the CLI). Call WITHOUT the GIL: touches no Python object.
  // Throws vitvk::Error naming the file.
  void decode();

  // One view per item, in order (valid after decode()).
  const std::vector<ImageView>& views() const { return views_; }
  std::size_t size() const { return views_.size(); }

 private:
  std::vector<py::array> arrays_;  // the arrays viewed (references held; released with the GIL held)
  std::vector<ImageView> views_;
  std::vector<std::size_t> path_items_;  // positions of the path items
  std::vector<std::string> paths_;
  std::vector<Image> decoded_;
};

// The view of one array (see Inputs); `what` names it in error messages ("image 3").
ImageView view_of(const py::array& array, bool bgr, const std::string& what);

}  // namespace vitvk::python
