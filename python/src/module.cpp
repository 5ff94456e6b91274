// vitvk._vitvk: the compiled half of the `vitvk` Python package, over the public C++ API only (include/vitvk/).
// The Python half (vitvk/__init__.py) normalises arguments (one image or a list, os.PathLike) and wraps the plain
// tuples and dicts returned here into named result types; everything slow happens here with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "convert.hpp"
#include "vitvk/vitvk.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace vitvk::python {
namespace {

// The Python exception class of each ErrorCode (index = the enum's value), created once at import. Module-lifetime
// type objects, as pybind11's own exception registrations are; only read after the module is initialised.
constexpr std::size_t kErrorCodes = static_cast<std::size_t>(ErrorCode::Internal) + 1;
std::array<PyObject*, kErrorCodes> g_error_types{};

void raise_error(const Error& e) {
  const auto code = static_cast<std::size_t>(e.code());
  PyObject* type = code < kErrorCodes && g_error_types[code] ? g_error_types[code]
                                                             : g_error_types[static_cast<std::size_t>(ErrorCode::Internal)];
  // Messages name files, and file names are bytes: decode leniently rather than fail inside the translator.
  const char* what = e.what();
  py::object message = py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "replace"));
  py::object exc = py::reinterpret_steal<py::object>(PyObject_CallOneArg(type, message.ptr()));
  if (!exc) return;  // constructing it failed: that error is set instead
  exc.attr("code") = to_string(e.code());
  PyErr_SetObject(type, exc.ptr());
}

BackendType backend_of(const std::string& s) {
  if (s == "auto") return BackendType::Auto;
  if (s == "cpu") return BackendType::Cpu;
  if (s == "vulkan") return BackendType::Vulkan;
  throw py::value_error("backend must be 'auto', 'cpu' or 'vulkan', got '" + s + "'");
}

Precision precision_of(const std::string& s) {
  if (s == "auto") return Precision::Auto;
  if (s == "fp32") return Precision::Fp32;
  if (s == "fp16") return Precision::Fp16;
  if (s == "int8") return Precision::Int8;
  throw py::value_error("precision must be 'auto', 'fp32', 'fp16' or 'int8', got '" + s + "'");
}

AttentionFusion fusion_of(const std::string& s) {
  if (s == "mean") return AttentionFusion::Mean;
  if (s == "max") return AttentionFusion::Max;
  if (s == "min") return AttentionFusion::Min;
  throw py::value_error("fusion must be 'mean', 'max' or 'min', got '" + s + "'");
}

const char* fusion_name(AttentionFusion f) {
  switch (f) {
    case AttentionFusion::Max: return "max";
    case AttentionFusion::Min: return "min";
    default: return "mean";
  }
}

// LoadOptions::img_size (an input-size override) exists only in newer trees: bound when present.
template <typename Options>
bool set_img_size(Options& o, std::optional<int> img_size) {
  if constexpr (requires(Options& x) { x.img_size = std::optional<int>{}; }) {
    o.img_size = img_size;
    return true;
  } else {
    return !img_size;
  }
}

py::list predictions(const std::vector<Prediction>& top) {
  py::list out;
  for (const Prediction& p : top) out.append(py::make_tuple(p.index, p.label, p.probability));
  return out;
}

// A numpy array that owns a vitvk::Image (no copy of the pixels).
py::array array_of(Image image) {
  auto owned = std::make_unique<Image>(std::move(image));
  const Image& im = *owned;
  const auto h = static_cast<py::ssize_t>(im.height()), w = static_cast<py::ssize_t>(im.width());
  const auto c = static_cast<py::ssize_t>(bytes_per_pixel(im.format()));
  py::capsule keep(owned.get(), [](void* p) { delete static_cast<Image*>(p); });
  owned.release();
  return py::array(py::dtype::of<std::uint8_t>(), {h, w, c}, {w * c, c, py::ssize_t{1}}, im.data(), keep);
}

class PyClassifier {
 public:
  PyClassifier(const std::string& model, const std::string& backend, std::optional<int> device,
               const std::string& precision, std::optional<int> img_size, int max_batch) {
    LoadOptions o;
    o.backend = backend_of(backend);
    o.device = device;
    o.precision = precision_of(precision);
    o.max_batch = max_batch;
    if (!set_img_size(o, img_size))
      throw py::value_error("img_size is not supported by this vitvk build (its LoadOptions has no img_size); "
                            "leave it None to use the model's own input size");
    py::gil_scoped_release nogil;
    classifier_ = std::make_unique<Classifier>(Classifier::load(model, o));
  }

  py::list classify(const py::sequence& items, int top_k, bool bgr) {
    Inputs in(items, bgr);
    std::vector<std::vector<Prediction>> results;
    {
      py::gil_scoped_release nogil;
      in.decode();
      results = classifier_->classify(in.views(), top_k);
    }
    py::list out;
    for (const auto& r : results) out.append(predictions(r));
    return out;
  }

  py::array_t<float> embed(const py::sequence& items, bool bgr) {
    Inputs in(items, bgr);
    std::vector<std::vector<float>> vectors;
    {
      py::gil_scoped_release nogil;
      in.decode();
      vectors = classifier_->embed(in.views());
    }
    const auto d = static_cast<py::ssize_t>(classifier_->info().embedding_dim);
    py::array_t<float> out({static_cast<py::ssize_t>(vectors.size()), d});
    float* dst = out.mutable_data();
    for (const auto& v : vectors) {
      if (static_cast<py::ssize_t>(v.size()) != d) throw Error(ErrorCode::Internal, "embedding of unexpected length");
      std::memcpy(dst, v.data(), v.size() * sizeof(float));
      dst += d;
    }
    return out;
  }

  // One (top, map [h, w] float32, crop dict, options dict) tuple per image.
  py::list explain(const py::sequence& items, const std::string& fusion, double discard_ratio, int top_k, bool bgr) {
    ExplainOptions o;
    o.fusion = fusion_of(fusion);
    o.discard_ratio = discard_ratio;
    o.top_k = top_k;
    Inputs in(items, bgr);
    std::vector<Explanation> results;
    {
      py::gil_scoped_release nogil;
      in.decode();
      for (const ImageView& v : in.views()) results.push_back(classifier_->explain(v, o));
    }
    py::list out;
    for (const Explanation& e : results) {
      const AttentionMap& m = e.map;
      py::array_t<float> grid({static_cast<py::ssize_t>(m.height), static_cast<py::ssize_t>(m.width)});
      if (m.values.size() != static_cast<std::size_t>(m.width) * m.height)
        throw Error(ErrorCode::Internal, "attention map of unexpected size");
      std::memcpy(grid.mutable_data(), m.values.data(), m.values.size() * sizeof(float));
      const CropRegion& c = m.crop;
      py::dict crop("source_width"_a = c.source_width, "source_height"_a = c.source_height,
                    "resized_width"_a = c.resized_width, "resized_height"_a = c.resized_height, "crop_x"_a = c.crop_x,
                    "crop_y"_a = c.crop_y, "crop_width"_a = c.crop_width, "crop_height"_a = c.crop_height);
      py::dict options("fusion"_a = fusion_name(m.options.fusion), "discard_ratio"_a = m.options.discard_ratio);
      out.append(py::make_tuple(predictions(e.top), std::move(grid), std::move(crop), std::move(options)));
    }
    return out;
  }

  py::dict info() const {
    const ModelInfo& i = classifier_->info();
    return py::dict("architecture"_a = i.architecture, "directory"_a = i.directory, "input_width"_a = i.input_width,
                    "input_height"_a = i.input_height, "channels"_a = i.channels, "patch_size"_a = i.patch_size,
                    "grid_width"_a = i.grid_width, "grid_height"_a = i.grid_height,
                    "embedding_dim"_a = i.embedding_dim, "depth"_a = i.depth, "heads"_a = i.heads,
                    "num_classes"_a = i.num_classes, "distilled"_a = i.distilled,
                    "labels"_a = py::tuple(py::cast(i.labels)), "backend"_a = i.backend, "device"_a = i.device,
                    "precision"_a = i.precision, "max_batch"_a = i.max_batch);
  }

 private:
  std::unique_ptr<Classifier> classifier_;
};

}  // namespace
}  // namespace vitvk::python

PYBIND11_MODULE(_vitvk, m) {
  using namespace vitvk;
  using namespace vitvk::python;
  m.doc() = "vitvk's compiled core (use the `vitvk` package, not this module).";

  // vitvk.Error and one subclass per ErrorCode; the ones with a natural Python counterpart also derive from it
  // (InvalidArgumentError is a ValueError, IoError an OSError, OutOfMemoryError a MemoryError).
  PyObject* base = PyErr_NewExceptionWithDoc(
      "vitvk.Error", "Every failure vitvk reports; .code is the vitvk error code ('io', 'image_decode', ...).",
      PyExc_Exception, nullptr);
  if (!base) throw py::error_already_set();
  m.add_object("Error", py::reinterpret_borrow<py::object>(base));
  struct Sub {
    ErrorCode code;
    const char* name;
    PyObject* also;
    const char* doc;
  };
  const Sub subs[] = {
      {ErrorCode::InvalidArgument, "InvalidArgumentError", PyExc_ValueError, "An unusable argument or image."},
      {ErrorCode::Io, "IoError", PyExc_OSError, "A file could not be opened, read or written."},
      {ErrorCode::ModelFormat, "ModelFormatError", nullptr, "config.json or model.safetensors is malformed."},
      {ErrorCode::ImageDecode, "ImageDecodeError", nullptr, "An image could not be decoded or exceeds a limit."},
      {ErrorCode::Unsupported, "UnsupportedError", nullptr, "A valid request this build or device cannot serve."},
      {ErrorCode::Vulkan, "VulkanError", nullptr, "A Vulkan call failed."},
      {ErrorCode::DeviceLost, "DeviceLostError", nullptr, "The GPU was lost; the model must be reloaded."},
      {ErrorCode::OutOfMemory, "OutOfMemoryError", PyExc_MemoryError, "Host or device memory ran out."},
      {ErrorCode::Internal, "InternalError", nullptr, "A bug in vitvk."},
  };
  for (const Sub& s : subs) {
    py::tuple bases = s.also ? py::make_tuple(py::handle(base), py::handle(s.also)) : py::make_tuple(py::handle(base));
    const std::string qualified = std::string("vitvk.") + s.name;
    PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), s.doc, bases.ptr(), nullptr);
    if (!type) throw py::error_already_set();
    g_error_types[static_cast<std::size_t>(s.code)] = type;  // the reference is kept for the module's lifetime
    m.add_object(s.name, py::reinterpret_borrow<py::object>(type));
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      raise_error(e);
    }
  });

  m.def("version", [] { return std::string(vitvk::version()); });

  m.def("devices", [] {
    std::vector<DeviceInfo> list;
    {
      py::gil_scoped_release nogil;
      list = list_devices();
    }
    py::list out;
    for (const DeviceInfo& d : list)
      out.append(py::dict("index"_a = d.index, "name"_a = d.name, "type"_a = d.type, "driver"_a = d.driver,
                          "api_version"_a = d.api_version, "memory_bytes"_a = d.memory_bytes, "fp16"_a = d.fp16,
                          "preferred"_a = d.preferred));
    return out;
  });

  m.def(
      "load_image",
      [](const std::string& path, std::uint64_t max_pixels) {
        Image image;
        {
          py::gil_scoped_release nogil;
          image = Image::load(path, max_pixels);
        }
        return array_of(std::move(image));
      },
      py::arg("path"), py::arg("max_pixels") = std::uint64_t{100'000'000});

  m.def(
      "quantize",
      [](const std::string& model, const std::string& out, int group) {
        QuantizeResult r;
        {
          py::gil_scoped_release nogil;
          r = quantize_model(model, out, {.group = group});
        }
        return py::dict("source"_a = r.source, "directory"_a = r.directory, "source_bytes"_a = r.source_bytes,
                        "bytes"_a = r.bytes, "int8_layers"_a = r.int8_layers, "group"_a = r.group);
      },
      py::arg("model"), py::arg("out"), py::arg("group") = 0);

  py::class_<PyClassifier>(m, "_Classifier")
      .def(py::init<const std::string&, const std::string&, std::optional<int>, const std::string&,
                    std::optional<int>, int>(),
           py::arg("model"), py::arg("backend"), py::arg("device"), py::arg("precision"), py::arg("img_size"),
           py::arg("max_batch"))
      .def("classify", &PyClassifier::classify, py::arg("items"), py::arg("top_k"), py::arg("bgr"))
      .def("embed", &PyClassifier::embed, py::arg("items"), py::arg("bgr"))
      .def("explain", &PyClassifier::explain, py::arg("items"), py::arg("fusion"), py::arg("discard_ratio"),
           py::arg("top_k"), py::arg("bgr"))
      .def("info", &PyClassifier::info);
}
