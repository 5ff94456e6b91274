// The C API (vitvk.h) over vitvk::Classifier: no exception crosses it; failures become a status plus an optional
// heap-allocated vitvk_error.
#include "vitvk/vitvk.h"

#include <algorithm>
#include <new>
#include <string>

#include "vitvk/classifier.hpp"
#include "vitvk/quantize.hpp"

struct vitvk_error {
  vitvk_status code;
  std::string message;
};

struct vitvk_model {
  vitvk::Classifier classifier;
};

namespace {

vitvk_status status_of(vitvk::ErrorCode code) {
  switch (code) {
    case vitvk::ErrorCode::InvalidArgument: return VITVK_INVALID_ARGUMENT;
    case vitvk::ErrorCode::Io: return VITVK_IO;
    case vitvk::ErrorCode::ModelFormat: return VITVK_MODEL_FORMAT;
    case vitvk::ErrorCode::ImageDecode: return VITVK_IMAGE_DECODE;
    case vitvk::ErrorCode::Unsupported: return VITVK_UNSUPPORTED;
    case vitvk::ErrorCode::Vulkan: return VITVK_VULKAN;
    case vitvk::ErrorCode::DeviceLost: return VITVK_DEVICE_LOST;
    case vitvk::ErrorCode::OutOfMemory: return VITVK_OUT_OF_MEMORY;
    case vitvk::ErrorCode::Internal: return VITVK_INTERNAL;
  }
  return VITVK_INTERNAL;
}

vitvk_status fail(vitvk_error** error, vitvk_status code, const char* message) noexcept {
  if (error) {
    *error = nullptr;
    try {
      *error = new vitvk_error{code, message};
    } catch (...) {
      // No memory for the message: the status alone is still returned.
    }
  }
  return code;
}

// Runs f (which returns nothing), mapping every exception to a status and error object.
template <class F>
vitvk_status call(vitvk_error** error, F&& f) noexcept {
  if (error) *error = nullptr;
  try {
    f();
    return VITVK_OK;
  } catch (const vitvk::Error& e) {
    return fail(error, status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(error, VITVK_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(error, VITVK_INTERNAL, e.what());
  } catch (...) {
    return fail(error, VITVK_INTERNAL, "unknown exception");
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw vitvk::Error(vitvk::ErrorCode::InvalidArgument, what);
}

vitvk::PixelFormat format_of(vitvk_pixel_format f) {
  switch (f) {
    case VITVK_PIXEL_RGB8: return vitvk::PixelFormat::Rgb8;
    case VITVK_PIXEL_BGR8: return vitvk::PixelFormat::Bgr8;
    case VITVK_PIXEL_RGBA8: return vitvk::PixelFormat::Rgba8;
    case VITVK_PIXEL_BGRA8: return vitvk::PixelFormat::Bgra8;
    case VITVK_PIXEL_GRAY8: return vitvk::PixelFormat::Gray8;
    case VITVK_PIXEL_FORMAT_MAX_ENUM: break;
  }
  throw vitvk::Error(vitvk::ErrorCode::InvalidArgument, "unknown pixel format " + std::to_string(static_cast<int>(f)));
}

// Labels point into the model's ModelInfo, which lives as long as the handle.
void write_top(const vitvk_model* model, const std::vector<vitvk::Prediction>& top, vitvk_prediction* out, int* count) {
  const auto& labels = model->classifier.info().labels;
  for (std::size_t i = 0; i < top.size(); ++i)
    out[i] = vitvk_prediction{top[i].index, top[i].probability, labels.at(static_cast<std::size_t>(top[i].index)).c_str()};
  *count = static_cast<int>(top.size());
}

void check_top_args(const vitvk_model* model, const vitvk_prediction* top, int k, const int* count) {
  require(model != nullptr, "model is NULL");
  require(top != nullptr && count != nullptr, "top and count must not be NULL");
  require(k >= 1, "k must be at least 1");
}

// A handle's facts without throwing: nullptr/0 for a NULL model.
template <class F>
auto fact(const vitvk_model* model, F&& f) noexcept -> decltype(f(model->classifier.info())) {
  if (!model) return {};
  return f(model->classifier.info());
}

}  // namespace

extern "C" {

const char* vitvk_version(void) { return vitvk::version(); }

const char* vitvk_status_name(vitvk_status status) {
  switch (status) {
    case VITVK_OK: return "ok";
    case VITVK_INVALID_ARGUMENT: return vitvk::to_string(vitvk::ErrorCode::InvalidArgument);
    case VITVK_IO: return vitvk::to_string(vitvk::ErrorCode::Io);
    case VITVK_MODEL_FORMAT: return vitvk::to_string(vitvk::ErrorCode::ModelFormat);
    case VITVK_IMAGE_DECODE: return vitvk::to_string(vitvk::ErrorCode::ImageDecode);
    case VITVK_UNSUPPORTED: return vitvk::to_string(vitvk::ErrorCode::Unsupported);
    case VITVK_VULKAN: return vitvk::to_string(vitvk::ErrorCode::Vulkan);
    case VITVK_DEVICE_LOST: return vitvk::to_string(vitvk::ErrorCode::DeviceLost);
    case VITVK_OUT_OF_MEMORY: return vitvk::to_string(vitvk::ErrorCode::OutOfMemory);
    case VITVK_INTERNAL: return vitvk::to_string(vitvk::ErrorCode::Internal);
    case VITVK_STATUS_MAX_ENUM: break;
  }
  return "unknown";
}

vitvk_status vitvk_error_code(const vitvk_error* error) { return error ? error->code : VITVK_OK; }
const char* vitvk_error_message(const vitvk_error* error) { return error ? error->message.c_str() : ""; }
void vitvk_error_free(vitvk_error* error) { delete error; }

void vitvk_load_options_init(vitvk_load_options* options) {
  if (options) *options = vitvk_load_options{VITVK_BACKEND_AUTO, -1, VITVK_PRECISION_AUTO, 16};
}

vitvk_status vitvk_model_load(const char* model, const vitvk_load_options* options, vitvk_model** out,
                              vitvk_error** error) {
  if (out) *out = nullptr;
  return call(error, [&] {
    require(model != nullptr && out != nullptr, "vitvk_model_load: model and out must not be NULL");
    vitvk_load_options c;
    vitvk_load_options_init(&c);
    if (options) c = *options;
    vitvk::LoadOptions o;
    switch (c.backend) {
      case VITVK_BACKEND_AUTO: o.backend = vitvk::BackendType::Auto; break;
      case VITVK_BACKEND_CPU: o.backend = vitvk::BackendType::Cpu; break;
      case VITVK_BACKEND_VULKAN: o.backend = vitvk::BackendType::Vulkan; break;
      default: require(false, "vitvk_model_load: unknown backend value");
    }
    switch (c.precision) {
      case VITVK_PRECISION_AUTO: o.precision = vitvk::Precision::Auto; break;
      case VITVK_PRECISION_FP32: o.precision = vitvk::Precision::Fp32; break;
      case VITVK_PRECISION_FP16: o.precision = vitvk::Precision::Fp16; break;
      case VITVK_PRECISION_INT8: o.precision = vitvk::Precision::Int8; break;
      default: require(false, "vitvk_model_load: unknown precision value");
    }
    require(c.device >= -1, "vitvk_model_load: device must be -1 or a device index");
    if (c.device >= 0) o.device = c.device;
    o.max_batch = c.max_batch;
    *out = new vitvk_model{vitvk::Classifier::load(model, o)};
  });
}

void vitvk_model_free(vitvk_model* model) { delete model; }

int vitvk_model_num_classes(const vitvk_model* m) { return fact(m, [](const auto& i) { return i.num_classes; }); }
int vitvk_model_embedding_dim(const vitvk_model* m) { return fact(m, [](const auto& i) { return i.embedding_dim; }); }
int vitvk_model_input_width(const vitvk_model* m) { return fact(m, [](const auto& i) { return i.input_width; }); }
int vitvk_model_input_height(const vitvk_model* m) { return fact(m, [](const auto& i) { return i.input_height; }); }
const char* vitvk_model_architecture(const vitvk_model* m) {
  return fact(m, [](const auto& i) { return i.architecture.c_str(); });
}
const char* vitvk_model_backend(const vitvk_model* m) { return fact(m, [](const auto& i) { return i.backend.c_str(); }); }
const char* vitvk_model_device(const vitvk_model* m) { return fact(m, [](const auto& i) { return i.device.c_str(); }); }
const char* vitvk_model_precision(const vitvk_model* m) {
  return fact(m, [](const auto& i) { return i.precision.c_str(); });
}
const char* vitvk_model_label(const vitvk_model* m, int index) {
  return fact(m, [index](const auto& i) -> const char* {
    return index >= 0 && index < static_cast<int>(i.labels.size()) ? i.labels[static_cast<std::size_t>(index)].c_str()
                                                                    : nullptr;
  });
}

vitvk_status vitvk_classify_pixels(vitvk_model* model, const uint8_t* pixels, int width, int height, size_t stride,
                                   vitvk_pixel_format format, vitvk_prediction* top, int k, int* count,
                                   vitvk_error** error) {
  if (count) *count = 0;
  return call(error, [&] {
    check_top_args(model, top, k, count);
    const vitvk::ImageView view{pixels, width, height, stride, format_of(format)};
    write_top(model, model->classifier.classify(view, k), top, count);
  });
}

vitvk_status vitvk_classify_file(vitvk_model* model, const char* path, vitvk_prediction* top, int k, int* count,
                                 vitvk_error** error) {
  if (count) *count = 0;
  return call(error, [&] {
    check_top_args(model, top, k, count);
    require(path != nullptr, "path is NULL");
    write_top(model, model->classifier.classify(vitvk::Image::load(path), k), top, count);
  });
}

vitvk_status vitvk_embed_pixels(vitvk_model* model, const uint8_t* pixels, int width, int height, size_t stride,
                                vitvk_pixel_format format, float* out, size_t capacity, vitvk_error** error) {
  return call(error, [&] {
    require(model != nullptr && out != nullptr, "model and out must not be NULL");
    const auto dim = static_cast<std::size_t>(model->classifier.info().embedding_dim);
    if (capacity < dim)
      throw vitvk::Error(vitvk::ErrorCode::InvalidArgument, "the output holds " + std::to_string(capacity) +
                                                                 " floats; the embedding has " + std::to_string(dim));
    const auto e = model->classifier.embed(vitvk::ImageView{pixels, width, height, stride, format_of(format)});
    std::copy(e.begin(), e.end(), out);
  });
}

vitvk_status vitvk_quantize_model(const char* model, const char* out, int group, vitvk_error** error) {
  return call(error, [&] {
    require(model != nullptr && out != nullptr, "vitvk_quantize_model: model and out must not be NULL");
    vitvk::quantize_model(model, out, {.group = group});
  });
}

}  // extern "C"
