/* The C API exercised from C (C99):  vitvk_c_api_test MODEL_DIR IMAGE_FILE
 * Checks error codes and messages, argument validation, that pixel order / stride do not change the result, and
 * the embedding; prints the file's top-5 as "top INDEX PROBABILITY LABEL" lines, which the Catch2 case compares
 * with the C++ API. Exit status 0 only when every check passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vitvk/vitvk.h>

static int failures = 0;

#define CHECK(cond)                                                 \
  do {                                                              \
    if (!(cond)) {                                                  \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                   \
    }                                                               \
  } while (0)

/* Expects `status` to be `want` with an error object carrying the same code and a message containing `needle`. */
static void expect_error(vitvk_status status, vitvk_error* err, vitvk_status want, const char* needle) {
  CHECK(status == want);
  CHECK(err != NULL);
  if (err) {
    CHECK(vitvk_error_code(err) == want);
    CHECK(strstr(vitvk_error_message(err), needle) != NULL);
    if (strstr(vitvk_error_message(err), needle) == NULL)
      fprintf(stderr, "  message was: %s (wanted \"%s\")\n", vitvk_error_message(err), needle);
  }
  vitvk_error_free(err);
}

/* The call runs before `err` is read (function arguments have no evaluation order). */
#define EXPECT_ERROR(call, want, needle)   \
  do {                                     \
    const vitvk_status status_ = (call);   \
    expect_error(status_, err, want, needle); \
  } while (0)

static int same_top(const vitvk_prediction* a, int na, const vitvk_prediction* b, int nb) {
  int i;
  if (na != nb) return 0;
  for (i = 0; i < na; ++i)
    if (a[i].index != b[i].index || fabsf(a[i].probability - b[i].probability) > 1e-6f) return 0;
  return 1;
}

int main(int argc, char** argv) {
  const int W = 37, H = 29, K = 5;
  vitvk_model* model = NULL;
  vitvk_error* err = NULL;
  vitvk_load_options options;
  vitvk_prediction top[5], other[5];
  int n = 0, m = 0, i, x, y, c;
  unsigned char *rgb, *bgra;
  float* embedding;
  int dim;
  vitvk_status st;

  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL_DIR IMAGE_FILE\n", argv[0]);
    return 2;
  }
  CHECK(strlen(vitvk_version()) >= 5);
  CHECK(strcmp(vitvk_status_name(VITVK_MODEL_FORMAT), "model_format") == 0);

  /* A missing model: VITVK_IO naming it; a NULL error pointer is allowed. */
  EXPECT_ERROR(vitvk_model_load("/nonexistent/vitvk-model", NULL, &model, &err), VITVK_IO, "/nonexistent/vitvk-model");
  CHECK(model == NULL);
  CHECK(vitvk_model_load("/nonexistent/vitvk-model", NULL, &model, NULL) == VITVK_IO);
  EXPECT_ERROR(vitvk_model_load(NULL, NULL, &model, &err), VITVK_INVALID_ARGUMENT, "NULL");

  vitvk_load_options_init(&options);
  CHECK(options.max_batch == 16 && options.device == -1);
  options.max_batch = 0;
  EXPECT_ERROR(vitvk_model_load(argv[1], &options, &model, &err), VITVK_INVALID_ARGUMENT, "max_batch");
  options.max_batch = 4;
  options.backend = VITVK_BACKEND_CPU;
  options.precision = VITVK_PRECISION_FP16;
  EXPECT_ERROR(vitvk_model_load(argv[1], &options, &model, &err), VITVK_UNSUPPORTED, "fp32");
  options.precision = VITVK_PRECISION_INT8; /* int8 linear layers on the CPU backend */
  st = vitvk_model_load(argv[1], &options, &model, &err);
  CHECK(st == VITVK_OK && strcmp(vitvk_model_precision(model), "int8") == 0);
  vitvk_model_free(model);
  model = NULL;
  options.precision = VITVK_PRECISION_AUTO;

  /* An int8 copy (next to the model): it loads as int8 unasked; a bad group, an int8 source and NULL are refused. */
  {
    char out[4096];
    snprintf(out, sizeof out, "%s_int8", argv[1]);
    st = vitvk_quantize_model(argv[1], out, 8, &err);
    CHECK(st == VITVK_OK);
    if (st != VITVK_OK) fprintf(stderr, "  %s\n", vitvk_error_message(err));
    vitvk_error_free(err);
    err = NULL;
    CHECK(vitvk_model_load(out, &options, &model, NULL) == VITVK_OK);
    CHECK(model != NULL && strcmp(vitvk_model_precision(model), "int8") == 0);
    vitvk_model_free(model);
    model = NULL;
    EXPECT_ERROR(vitvk_quantize_model(argv[1], out, 12, &err), VITVK_INVALID_ARGUMENT, "group 12");
    EXPECT_ERROR(vitvk_quantize_model(out, "unused", 0, &err), VITVK_INVALID_ARGUMENT, "already int8");
    EXPECT_ERROR(vitvk_quantize_model(NULL, out, 0, &err), VITVK_INVALID_ARGUMENT, "NULL");
  }

  st = vitvk_model_load(argv[1], &options, &model, &err);
  if (st != VITVK_OK) {
    fprintf(stderr, "FAIL: loading %s: %s\n", argv[1], vitvk_error_message(err));
    vitvk_error_free(err);
    return 1;
  }
  CHECK(err == NULL);
  CHECK(vitvk_model_num_classes(model) > 0);
  CHECK(vitvk_model_label(model, 0) != NULL);
  CHECK(vitvk_model_label(model, -1) == NULL);
  CHECK(vitvk_model_label(model, vitvk_model_num_classes(model)) == NULL);
  CHECK(strcmp(vitvk_model_backend(model), "cpu") == 0);
  CHECK(strcmp(vitvk_model_precision(model), "fp32") == 0);
  CHECK(vitvk_model_input_width(model) > 0 && vitvk_model_input_height(model) > 0);
  CHECK(vitvk_model_num_classes(NULL) == 0 && vitvk_model_architecture(NULL) == NULL);

  /* The file: ranked, probabilities in [0, 1], labels owned by the model. */
  st = vitvk_classify_file(model, argv[2], top, K, &n, &err);
  CHECK(st == VITVK_OK);
  if (st != VITVK_OK) fprintf(stderr, "  %s\n", vitvk_error_message(err));
  vitvk_error_free(err);
  CHECK(n == (vitvk_model_num_classes(model) < K ? vitvk_model_num_classes(model) : K));
  for (i = 0; i < n; ++i) {
    CHECK(top[i].probability >= 0.f && top[i].probability <= 1.f);
    CHECK(i == 0 || top[i].probability <= top[i - 1].probability);
    CHECK(top[i].label == vitvk_model_label(model, top[i].index));
    printf("top %d %.7f %s\n", top[i].index, top[i].probability, top[i].label);
  }
  EXPECT_ERROR(vitvk_classify_file(model, "/nonexistent/cat.jpg", top, K, &n, &err), VITVK_IO,
               "/nonexistent/cat.jpg");
  CHECK(n == 0);
  EXPECT_ERROR(vitvk_classify_file(model, argv[2], top, 0, &n, &err), VITVK_INVALID_ARGUMENT, "k must be");

  /* Pixels: RGB tightly packed == BGRA with a padded stride and noise in alpha. */
  rgb = malloc((size_t)W * H * 3);
  bgra = malloc((size_t)(W * 4 + 12) * H);
  if (!rgb || !bgra) return 1;
  for (y = 0; y < H; ++y)
    for (x = 0; x < W; ++x)
      for (c = 0; c < 3; ++c) {
        const unsigned char v = (unsigned char)((x * 7 + y * 13 + c * 101 + x * y) % 256);
        rgb[(y * W + x) * 3 + c] = v;
        bgra[y * (W * 4 + 12) + x * 4 + (2 - c)] = v;
        bgra[y * (W * 4 + 12) + x * 4 + 3] = (unsigned char)(x * y);
      }
  CHECK(vitvk_classify_pixels(model, rgb, W, H, 0, VITVK_PIXEL_RGB8, top, K, &n, NULL) == VITVK_OK);
  CHECK(vitvk_classify_pixels(model, bgra, W, H, W * 4 + 12, VITVK_PIXEL_BGRA8, other, K, &m, NULL) == VITVK_OK);
  CHECK(n > 0 && same_top(top, n, other, m));

  EXPECT_ERROR(vitvk_classify_pixels(model, NULL, W, H, 0, VITVK_PIXEL_RGB8, top, K, &n, &err),
               VITVK_INVALID_ARGUMENT, "null pixel");
  EXPECT_ERROR(vitvk_classify_pixels(model, rgb, W, H, W * 2, VITVK_PIXEL_RGB8, top, K, &n, &err),
               VITVK_INVALID_ARGUMENT, "stride");
  EXPECT_ERROR(vitvk_classify_pixels(model, rgb, W, H, 0, (vitvk_pixel_format)42, top, K, &n, &err),
               VITVK_INVALID_ARGUMENT, "pixel format");

  /* Embedding: the buffer must be large enough; values are finite and not all zero. */
  dim = vitvk_model_embedding_dim(model);
  CHECK(dim > 0);
  embedding = calloc((size_t)dim, sizeof(float));
  if (!embedding) return 1;
  EXPECT_ERROR(vitvk_embed_pixels(model, rgb, W, H, 0, VITVK_PIXEL_RGB8, embedding, (size_t)dim - 1, &err),
               VITVK_INVALID_ARGUMENT, "embedding");
  CHECK(vitvk_embed_pixels(model, rgb, W, H, 0, VITVK_PIXEL_RGB8, embedding, (size_t)dim, NULL) == VITVK_OK);
  {
    double norm = 0;
    for (i = 0; i < dim; ++i) {
      CHECK(isfinite(embedding[i]));
      norm += (double)embedding[i] * embedding[i];
    }
    CHECK(norm > 0);
  }

  free(embedding);
  free(bgra);
  free(rgb);
  vitvk_model_free(model);
  vitvk_model_free(NULL);
  vitvk_error_free(NULL);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
