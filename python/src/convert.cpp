#include "convert.hpp"

#include <limits>
#include <utility>

namespace vitvk::python {
namespace {

std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string strides_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.strides(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

}  // namespace

ImageView view_of(const py::array& a, bool bgr, const std::string& what) {
  const py::dtype dt = a.dtype();
  if (dt.kind() != 'u' || dt.itemsize() != 1)
    throw py::value_error(what + ": expected a uint8 array, got dtype " + py::str(py::handle(dt)).cast<std::string>() +
                          " (8-bit pixels only: scale and convert with .astype(np.uint8))");
  const py::ssize_t nd = a.ndim();
  const py::ssize_t channels = nd == 3 ? a.shape(2) : 1;
  if (!(nd == 2 || (nd == 3 && (channels == 1 || channels == 3 || channels == 4))))
    throw py::value_error(what + ": expected an H x W x 3 (RGB), H x W x 4 (RGBA) or H x W (gray) array, got shape " +
                          shape_text(a));
  const py::ssize_t h = a.shape(0), w = a.shape(1);
  constexpr py::ssize_t max_side = std::numeric_limits<int>::max();
  if (h < 1 || w < 1 || h > max_side || w > max_side)
    throw py::value_error(what + ": an image needs at least one row and one column, got shape " + shape_text(a));

  // Within a row, pixels and channels must be packed (what an ImageView describes); rows may be any positive
  // distance apart. A stride of a length-1 axis is meaningless (numpy may set it to anything), so it is not checked.
  const bool channels_packed = channels == 1 || a.strides(2) == 1;
  const bool pixels_packed = w == 1 || a.strides(1) == channels;
  const py::ssize_t row_bytes = w * channels;
  const bool rows_ok = h == 1 || a.strides(0) >= row_bytes;
  if (!channels_packed || !pixels_packed || !rows_ok) {
    std::string hint = "use np.ascontiguousarray(x)";
    if (nd == 3 && channels >= 3 && a.strides(2) == -1) hint = "pass the array unflipped with bgr=True instead of x[..., ::-1]";
    throw py::value_error(what + ": unsupported memory layout (shape " + shape_text(a) + ", strides " + strides_text(a) +
                          "): pixels must be packed within each row, rows may be strided (e.g. a crop x[y0:y1, x0:x1]); " +
                          hint);
  }
  PixelFormat format = PixelFormat::Gray8;
  if (channels == 3) format = bgr ? PixelFormat::Bgr8 : PixelFormat::Rgb8;
  if (channels == 4) format = bgr ? PixelFormat::Bgra8 : PixelFormat::Rgba8;
  return ImageView{static_cast<const std::uint8_t*>(a.data()), static_cast<int>(w), static_cast<int>(h),
                   h == 1 ? 0 : static_cast<std::size_t>(a.strides(0)), format};
}

Inputs::Inputs(const py::sequence& items, bool bgr) {
  const std::size_t n = py::len(items);
  if (n == 0) throw py::value_error("no images given (an empty list)");
  views_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const py::object item = items[i];
    const std::string what = "image " + std::to_string(i);
    if (py::isinstance<py::bytes>(item) || py::isinstance<py::str>(item)) {  // bytes: os.fsencode'd by vitvk/__init__.py
      path_items_.push_back(i);
      paths_.push_back(item.cast<std::string>());
    } else if (py::isinstance<py::array>(item)) {
      auto a = py::reinterpret_borrow<py::array>(item);
      views_[i] = view_of(a, bgr, what);
      arrays_.push_back(std::move(a));
    } else {
      throw py::type_error(what + ": expected a path (str or os.PathLike) or a numpy uint8 array, got " +
                           py::str(py::handle(py::type::of(item))).cast<std::string>());
    }
  }
}

void Inputs::decode() {
  decoded_.reserve(paths_.size());
  for (std::size_t k = 0; k < paths_.size(); ++k) {
    decoded_.push_back(Image::load(paths_[k]));
    views_[path_items_[k]] = decoded_.back().view();
  }
}

}  // namespace vitvk::python
