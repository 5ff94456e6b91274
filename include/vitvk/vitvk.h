/* vitvk.h: the C API, for C and for other languages through their C FFI (Python ctypes/cffi, Rust, Go, ...).
 *
 *   vitvk_model* model = NULL;
 *   vitvk_error* err = NULL;
 *   if (vitvk_model_load("vit_tiny_patch16_224.augreg_in21k_ft_in1k", NULL, &model, &err) != VITVK_OK) {
 *     fprintf(stderr, "%s\n", vitvk_error_message(err));
 *     vitvk_error_free(err);
 *     return 1;
 *   }
 *   vitvk_prediction top[5];
 *   int n = 0;
 *   if (vitvk_classify_file(model, "cat.jpg", top, 5, &n, &err) == VITVK_OK)
 *     for (int i = 0; i < n; ++i) printf("%.3f %s\n", top[i].probability, top[i].label);
 *   vitvk_model_free(model);
 *
 * Conventions: every function that can fail returns a vitvk_status (VITVK_OK = 0) and takes a last argument
 * `vitvk_error** error`, which may be NULL; on failure, when non-NULL, *error receives a new error object (code and
 * message naming the file and the reason) that the caller frees with vitvk_error_free. No function keeps global
 * state, and none throws or aborts on bad input. Strings returned by a model (labels, names) live as long as the
 * model. A model may be used from several threads at once (calls are serialised inside), as in the C++ API.
 */
#ifndef VITVK_VITVK_H
#define VITVK_VITVK_H

#include <stddef.h>
#include <stdint.h>

#include "vitvk/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every enum ends in a *_MAX_ENUM member (as Vulkan's do) so that any int a C caller passes is a value of the
 * type in C++ too: out-of-range values are then reported as VITVK_INVALID_ARGUMENT instead of being undefined
 * behaviour on the library side (found by UBSan through tests/api/c_api_test.c). */

/* Status codes: stable values, the C mirror of vitvk::ErrorCode. */
typedef enum vitvk_status {
  VITVK_OK = 0,
  VITVK_INVALID_ARGUMENT = 1, /* a caller passed something unusable */
  VITVK_IO = 2,               /* a file could not be opened, read or written */
  VITVK_MODEL_FORMAT = 3,     /* config.json / model.safetensors malformed */
  VITVK_IMAGE_DECODE = 4,     /* an image could not be decoded, or exceeds a limit */
  VITVK_UNSUPPORTED = 5,      /* a valid request this build or device cannot serve */
  VITVK_VULKAN = 6,           /* a Vulkan call failed */
  VITVK_DEVICE_LOST = 7,      /* the GPU was lost; reload the model */
  VITVK_OUT_OF_MEMORY = 8,
  VITVK_INTERNAL = 9,         /* a bug in vitvk */
  VITVK_STATUS_MAX_ENUM = 0x7fffffff
} vitvk_status;

typedef enum vitvk_pixel_format {
  VITVK_PIXEL_RGB8 = 0,
  VITVK_PIXEL_BGR8 = 1,
  VITVK_PIXEL_RGBA8 = 2, /* alpha ignored */
  VITVK_PIXEL_BGRA8 = 3,
  VITVK_PIXEL_GRAY8 = 4,
  VITVK_PIXEL_FORMAT_MAX_ENUM = 0x7fffffff
} vitvk_pixel_format;

typedef enum vitvk_backend {
  VITVK_BACKEND_AUTO = 0,
  VITVK_BACKEND_CPU = 1,
  VITVK_BACKEND_VULKAN = 2,
  VITVK_BACKEND_MAX_ENUM = 0x7fffffff
} vitvk_backend;
typedef enum vitvk_precision {
  VITVK_PRECISION_AUTO = 0,
  VITVK_PRECISION_FP32 = 1,
  VITVK_PRECISION_FP16 = 2,
  VITVK_PRECISION_INT8 = 3, /* int8 weights in the transformer blocks' linear layers (Precision::Int8) */
  VITVK_PRECISION_MAX_ENUM = 0x7fffffff
} vitvk_precision;

/* Load options; fill with vitvk_load_options_init, then change what you need. */
typedef struct vitvk_load_options {
  vitvk_backend backend;
  int device; /* Vulkan device index; -1: VITVK_DEVICE, else the preferred device */
  vitvk_precision precision;
  int max_batch; /* most images per forward pass, >= 1 */
} vitvk_load_options;

/* One ranked class. `label` is owned by the model. */
typedef struct vitvk_prediction {
  int index;
  float probability;
  const char* label;
} vitvk_prediction;

typedef struct vitvk_model vitvk_model; /* opaque */
typedef struct vitvk_error vitvk_error; /* opaque */

/* "MAJOR.MINOR.PATCH" */
VITVK_API const char* vitvk_version(void);
/* A stable lower-case name for a status ("ok", "invalid_argument", "io", ...). */
VITVK_API const char* vitvk_status_name(vitvk_status status);

VITVK_API vitvk_status vitvk_error_code(const vitvk_error* error);
VITVK_API const char* vitvk_error_message(const vitvk_error* error); /* "" for NULL */
VITVK_API void vitvk_error_free(vitvk_error* error);                  /* NULL is fine */

/* Defaults: auto backend, device -1, auto precision, max_batch 16. */
VITVK_API void vitvk_load_options_init(vitvk_load_options* options);

/* Loads a model directory (config.json + model.safetensors) or a model name (searched as the C++ API does).
 * options may be NULL (defaults). On success *model receives a handle to free with vitvk_model_free. */
VITVK_API vitvk_status vitvk_model_load(const char* model, const vitvk_load_options* options, vitvk_model** out,
                                        vitvk_error** error);
VITVK_API void vitvk_model_free(vitvk_model* model); /* NULL is fine */

/* Model facts (0 / NULL for a NULL model or an index out of range). */
VITVK_API int vitvk_model_num_classes(const vitvk_model* model);
VITVK_API int vitvk_model_embedding_dim(const vitvk_model* model);
VITVK_API int vitvk_model_input_width(const vitvk_model* model);
VITVK_API int vitvk_model_input_height(const vitvk_model* model);
VITVK_API const char* vitvk_model_label(const vitvk_model* model, int index);
VITVK_API const char* vitvk_model_architecture(const vitvk_model* model);
VITVK_API const char* vitvk_model_backend(const vitvk_model* model);   /* "cpu" | "vulkan" */
VITVK_API const char* vitvk_model_device(const vitvk_model* model);
VITVK_API const char* vitvk_model_precision(const vitvk_model* model); /* "fp32" | "fp16" | "int8" */

/* Classifies 8-bit interleaved pixels: row y starts at pixels + y * stride (stride 0: tightly packed). Writes the
 * min(k, num_classes) most probable classes, most probable first, to top[0..] and their number to *count. */
VITVK_API vitvk_status vitvk_classify_pixels(vitvk_model* model, const uint8_t* pixels, int width, int height,
                                             size_t stride, vitvk_pixel_format format, vitvk_prediction* top, int k,
                                             int* count, vitvk_error** error);
/* The same for an image file (decoded as vitvk's reference pipeline does: EXIF orientation, 8-bit RGB). */
VITVK_API vitvk_status vitvk_classify_file(vitvk_model* model, const char* path, vitvk_prediction* top, int k,
                                           int* count, vitvk_error** error);

/* The image's embedding (pre-head class-token features): writes vitvk_model_embedding_dim floats to out, which
 * holds `capacity` floats (VITVK_INVALID_ARGUMENT when too small). */
VITVK_API vitvk_status vitvk_embed_pixels(vitvk_model* model, const uint8_t* pixels, int width, int height,
                                          size_t stride, vitvk_pixel_format format, float* out, size_t capacity,
                                          vitvk_error** error);

/* Writes an int8 copy of `model` (a directory or a name, found as vitvk_model_load finds it) to the directory `out`:
 * the transformer blocks' linear layers stored as int8, everything else as it was (vitvk::quantize_model in
 * vitvk/quantize.hpp). group: 0 for a scale per output channel, or a multiple of 8 up to 65536 for a scale per
 * channel and group of that many inputs. vitvk_model_load then runs the copy in int8 (VITVK_PRECISION_AUTO). */
VITVK_API vitvk_status vitvk_quantize_model(const char* model, const char* out, int group, vitvk_error** error);

#ifdef __cplusplus
}
#endif

#endif /* VITVK_VITVK_H */
