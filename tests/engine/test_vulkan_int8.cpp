// int8 precision on the Vulkan backend, end to end (weight-only: the int8 layers' weights live on the device as
// int8 with per-channel scales, or per channel and group of inputs from a `vitvk quantize --group` file, and are
// dequantized in the GEMM shader; activations stay in the storage precision).
// Its oracle is the CPU fp32 path on the same int8 weights dequantized (the same function up to fp32 rounding);
// the CPU int8 path (W8A8: activations quantized per token too) differs from it by the activations' quantization,
// measured and bounded here as well. Device weight memory: the int8 layers take a quarter of their fp32 bytes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/factory.hpp"
#include "model/quantize.hpp"
#include "model/safetensors.hpp"
#include "ops/gemm.hpp"
#include "support/random.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "support/vk_fixture.hpp"
#include "support/zoo_golden.hpp"
#include "vitvk/classifier.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

std::unique_ptr<Backend> vulkan(std::shared_ptr<const Model> m, bool int8, bool fp16, int max_batch) {
  VulkanBackendOptions o;
  o.int8 = int8;
  o.fp16 = fp16;
  o.max_batch = max_batch;
  o.validation = true;
  return make_vulkan_backend(std::move(m), o);
}

void require_clean(const Backend& b) {
  const auto msgs = b.validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
}

std::shared_ptr<const Model> quantized(const Model& m) {
  Model q = m;
  quantize_int8(q);
  return std::make_shared<const Model>(std::move(q));
}

// Vulkan int8 on `model` against the CPU fp32 path on its int8 weights dequantized and the CPU int8 path, on the
// logits (or the features where the model has no classifier). Returns the worst relative difference to fp32.
struct Agreement {
  double vs_dequantized = 0;  // max |vk int8 - cpu fp32(scale * q)| / max |cpu|
  double vs_cpu_int8 = 0;     // max |vk int8 - cpu int8 (W8A8)| / max |cpu|
};
Agreement compare(const std::string& what, std::shared_ptr<const Model> model, const std::vector<float>& images,
                  int batch, bool fp16) {
  auto gpu = vulkan(model, true, fp16, batch);
  CHECK(gpu->precision() == "int8");
  const ForwardResult g = gpu->forward(images, batch, {});
  const ForwardResult ref = make_cpu_backend(quantized(*model))->forward(images, batch, {});  // fp32 on scale * q
  const ForwardResult w8a8 = make_cpu_backend(model, true)->forward(images, batch, {});
  const bool logits = !ref.logits.empty();
  const auto& got = logits ? g.logits : g.features;
  Agreement a;
  a.vs_dequantized = test::max_rel_diff(got, logits ? ref.logits : ref.features);
  a.vs_cpu_int8 = test::max_rel_diff(got, logits ? w8a8.logits : w8a8.features);
  INFO(what << (fp16 ? " fp16" : " fp32") << ": vulkan int8 vs cpu fp32 on the dequantized weights "
            << a.vs_dequantized << ", vs cpu int8 (W8A8) " << a.vs_cpu_int8 << " (max |diff| / max |value|, "
            << (logits ? "logits" : "features") << ")");
  if (logits && !fp16) CHECK(test::argmax_rows(g.logits, g.num_classes) == test::argmax_rows(ref.logits, ref.num_classes));
  require_clean(*gpu);
  WARN(what << (fp16 ? " fp16" : " fp32") << ": vulkan int8 vs cpu fp32(scale*q) " << a.vs_dequantized
            << ", vs cpu int8 " << a.vs_cpu_int8);
  return a;
}

// Project tolerances: fp32 1e-4 relative (measured below: ~1e-6), fp16 storage 5e-2 (relative here: the
// activations are rounded to half as for fp16 weights). W8A8 on the CPU rounds every activation to 8 bits, which
// moves the logits ~1 % (tests/engine/test_cpu_int8.cpp); 5e-2 as there.
constexpr double kFp32Rel = 1e-4, kFp16Rel = 5e-2, kW8A8Rel = 5e-2;

// Bytes the int8 layers take on the device in fp32 and in int8 (tiles of this device's GEMM kernel).
struct LinearBytes {
  uint64_t fp32 = 0, int8 = 0;
  int layers = 0, min_k = 1 << 30;
};
LinearBytes int8_layer_bytes(const Model& m, const ops::GemmConfig& cfg) {
  LinearBytes b;
  for_each_int8_linear(m, [&](const LinearWeights& l) {
    b.fp32 += uint64_t(ops::linear_vk_packed_count(cfg, l.out, l.in)) * 4;
    b.int8 += uint64_t(ops::linear_vk_int8_packed_words(cfg, l.out, l.in)) * 4;
    b.min_k = std::min(b.min_k, l.in);
    ++b.layers;
  });
  return b;
}

// The fp32 store minus the int8 store is what the int8 layers saved: their fp32 bytes less their int8 bytes, up
// to each tensor's 256-byte (or larger) alignment in the store. The int8 bytes are a quarter of the fp32 ones plus
// 4 bytes per output channel (the scale): 1/4 + 1/K of them.
void check_memory(const std::string& what, std::shared_ptr<const Model> model) {
  auto f = vulkan(model, false, false, 1), q = vulkan(model, true, false, 1);
  test::VkFixture probe;
  const LinearBytes lb = int8_layer_bytes(*model, ops::gemm_config(probe.ctx.info()));
  const uint64_t f_bytes = f->device_weight_bytes(), q_bytes = q->device_weight_bytes();
  const double saved = double(f_bytes) - double(q_bytes), expect = double(lb.fp32) - double(lb.int8);
  const double slack = 2.0 * lb.layers * std::max<uint64_t>(256, probe.ctx.info().min_storage_buffer_offset_alignment);
  INFO(what << ": device weight bytes fp32 " << f_bytes << ", int8 " << q_bytes << " (ratio " << double(q_bytes) / f_bytes
            << "); int8 layers fp32 " << lb.fp32 << " -> int8 " << lb.int8 << " (ratio " << double(lb.int8) / lb.fp32
            << ")");
  CHECK(f_bytes > 0);
  CHECK(std::abs(saved - expect) <= slack);
  CHECK(double(lb.int8) / lb.fp32 <= 0.25 + 1.0 / lb.min_k + 1e-9);
  WARN(what << ": device weight bytes fp32 " << f_bytes << " -> int8 " << q_bytes << " (" << double(q_bytes) / f_bytes
            << "); the int8 layers " << lb.fp32 << " -> " << lb.int8 << " (" << double(lb.int8) / lb.fp32 << ")");
}

}  // namespace

TEST_CASE("Vulkan int8: the CPU fp32 answer on the dequantized weights, near the CPU int8 one, from a file too",
          "[engine][vulkan][int8]") {
  test::TempDir dir;
  for (bool distilled : {false, true}) {
    INFO("distilled " << distilled);
    const auto model =
        std::make_shared<const Model>(Model::random(test::tiny_config(distilled, 32, 8, 48, 3, 4, 10), 23));
    const ModelDims& d = model->dims;
    const int batch = 3;
    const auto images = test::random_floats(std::size_t(batch) * d.channels * d.img_h * d.img_w, 5);
    const Agreement a = compare(distilled ? "tiny distilled" : "tiny", model, images, batch, false);
    CHECK(a.vs_dequantized <= kFp32Rel);
    CHECK(a.vs_cpu_int8 <= kW8A8Rel);
    CHECK(a.vs_cpu_int8 > a.vs_dequantized);  // the CPU int8 path does quantize the activations
    {
      test::VkFixture probe;
      if (probe.ctx.fp16_enabled()) CHECK(compare("tiny", model, images, batch, true).vs_dequantized <= kFp16Rel);
    }

    // Quantized at load or read from an int8 safetensors file (`vitvk quantize`): the same int8 weights on the
    // device, so the same bits; the file's layers go up as they are (no fp32 copy on the host either).
    const auto sub = dir.path() / (distilled ? "d" : "p");
    quantized(*model)->save(sub);
    const auto loaded = std::make_shared<const Model>(Model::load(sub));
    REQUIRE(has_int8_weights(*loaded));
    const auto direct = vulkan(model, true, false, batch)->forward(images, batch, {});
    BackendRequest req;
    req.backend = BackendChoice::Vulkan;
    req.validation = true;
    auto from_file = make_backend(loaded, req);  // Auto precision: int8 for an int8 model
    CHECK(from_file->precision() == "int8");
    CHECK(from_file->forward(images, batch, {}).logits == direct.logits);
    require_clean(*from_file);
    req.precision = PrecisionChoice::Fp32;  // the int8 file in fp32: dequantized, as the CPU's fp32
    auto deq = make_backend(loaded, req);
    CHECK(deq->precision() == "fp32");
    CHECK(test::max_rel_diff(deq->forward(images, batch, {}).logits, direct.logits) <= kFp32Rel);

    check_memory(distilled ? "tiny distilled" : "tiny", model);
  }
}

TEST_CASE("Vulkan int8 from a file with a scale per group of inputs: the CPU fp32 answer on its dequantized weights",
          "[engine][vulkan][int8]") {
  const auto model = std::make_shared<const Model>(Model::random(test::tiny_config(false, 32, 8, 48, 3, 4, 10), 23));
  const ModelDims& d = model->dims;
  const int batch = 3;
  const auto images = test::random_floats(std::size_t(batch) * d.channels * d.img_h * d.img_w, 5);
  test::TempDir dir;
  Model g = *model;
  quantize_int8(g, 16);  // `vitvk quantize --group 16`: the blocks' K (48, 192) in 3 and 12 groups
  g.save(dir.path());
  const auto loaded = std::make_shared<const Model>(Model::load(dir.path()));
  REQUIRE(int8_weights_group(*loaded) == 16);
  BackendRequest req;
  req.backend = BackendChoice::Cpu;
  req.precision = PrecisionChoice::Fp32;
  const auto ref = make_backend(loaded, req)->forward(images, batch, {}).logits;  // fp32 on scale[n, k / 16] * q
  const auto fp32 = make_cpu_backend(model)->forward(images, batch, {}).logits;
  const auto per_channel = vulkan(model, true, false, batch)->forward(images, batch, {}).logits;
  {
    test::VkFixture probe;
    for (bool fp16 : {false, true}) {
      if (fp16 && !probe.ctx.fp16_enabled()) continue;
      auto gpu = vulkan(loaded, true, fp16, batch);
      CHECK(gpu->precision() == "int8");
      const auto got = gpu->forward(images, batch, {}).logits;
      const double vs_ref = test::max_rel_diff(got, ref);
      INFO((fp16 ? "fp16" : "fp32") << ": vulkan int8 (groups of 16) vs cpu fp32 on its dequantized weights "
                                    << vs_ref);
      CHECK(vs_ref <= (fp16 ? kFp16Rel : kFp32Rel));
      require_clean(*gpu);
      // VITVK_INT8_GROUP=16 on the fp32 model: the same weights quantized at load, the same bits.
      setenv("VITVK_INT8_GROUP", "16", 1);
      auto at_load = vulkan(model, true, fp16, batch);
      unsetenv("VITVK_INT8_GROUP");
      CHECK(at_load->forward(images, batch, {}).logits == got);
      if (!fp16) {
        // The groups are used: one scale per channel lands far from the grouped weights' answer (and the file's
        // layers went up as they are: the load made no per-channel copy).
        const double channel = test::max_rel_diff(per_channel, ref);
        INFO("vulkan int8 with one scale per channel vs cpu fp32 on the grouped weights " << channel);
        CHECK(channel > 100 * vs_ref);
        // Groups the shader cannot take (it reads k 8 at a time), and a group against the file's.
        for (const char* bad : {"12", "32"}) {
          setenv("VITVK_INT8_GROUP", bad, 1);
          CHECK_THROWS_AS(vulkan(std::strcmp(bad, "12") == 0 ? model : loaded, true, false, batch), Error);
          unsetenv("VITVK_INT8_GROUP");
        }
        WARN("Vulkan int8, groups of 16: vs cpu fp32(scale*q) " << vs_ref << " (per-channel scales: " << channel
                                                                << "); vs the fp32 model "
                                                                << test::max_rel_diff(got, fp32));
      }
    }
  }
}

TEST_CASE("Vulkan int8: the API and the factory pick it as asked", "[engine][vulkan][int8]") {
  const auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 3));
  BackendRequest req;
  req.backend = BackendChoice::Vulkan;
  req.precision = PrecisionChoice::Int8;
  CHECK(make_backend(model, req)->precision() == "int8");
  req.precision = PrecisionChoice::Fp32;
  CHECK(make_backend(model, req)->precision() == "fp32");
}

TEST_CASE("Vulkan int8: a malformed int8 file is refused before any backend, as for the CPU", "[engine][vulkan][int8]") {
  // The int8 file checks live in Model::load (tests/engine/test_cpu_int8.cpp covers each); here the Vulkan
  // entry point of the API meets one of them.
  test::TempDir dir;
  Model m = Model::random(test::tiny_config(), 4);
  quantize_int8(m);
  m.save(dir.path());
  {
    std::vector<TensorData> tensors;
    {
      const SafeTensors st = SafeTensors::open(dir.path() / "model.safetensors");
      for (const TensorView& t : st.tensors())
        tensors.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data.begin(), t.data.end())});
    }
    for (TensorData& t : tensors)
      if (t.name == "blocks.0.attn.qkv.weight_scale") {
        t.shape = {t.shape[0] - 1};
        t.bytes.resize(t.bytes.size() - 4);
      }
    save_safetensors(dir.path() / "model.safetensors", tensors);
  }
  LoadOptions o;
  o.backend = BackendType::Vulkan;
  o.precision = Precision::Int8;
  try {
    (void)Classifier::load(dir.path().string(), o);
    FAIL("loaded without an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(e.code() == ErrorCode::ModelFormat);
    CHECK_THAT(msg, Catch::Contains("model.safetensors") && Catch::Contains("blocks.0.attn.qkv.weight_scale") &&
                        Catch::Contains("one scale per row"));
  }
}

// The zoo's ViT families (random timm weights, every parameter randomised): int8 on Vulkan against the CPU
// fp32 path on the same int8 weights dequantized, and against the CPU int8 path.
TEST_CASE("Vulkan int8 on the ViT zoo: the CPU fp32 answer on the dequantized weights", "[engine][vulkan][int8][zoo]") {
  for (const char* name : {"vit_augreg", "deit_distilled", "deit3", "dinov2_reg4", "clip_openai", "siglip_gap",
                           "qknorm"}) {
    const test::ZooCase c = test::zoo_case(name);
    const auto model = std::make_shared<const Model>(test::load_zoo_model(c));
    const Agreement a = compare(name, model, c.input, static_cast<int>(c.input_shape[0]), false);
    CHECK(a.vs_dequantized <= kFp32Rel);
    CHECK(a.vs_cpu_int8 <= kW8A8Rel);
    // Its int8 file (`vitvk quantize`), where the layer scale is folded into the stored scales instead.
    if (c.config != "config.json" || c.img_size) continue;
    Model q = Model::load(c.root / c.model_dir);
    quantize_int8(q);
    test::TempDir dir;
    save_int8_copy(q, dir.path());
    const auto file = std::make_shared<const Model>(Model::load(dir.path()));
    const Agreement f = compare(std::string(name) + " int8 file", file, c.input, static_cast<int>(c.input_shape[0]), false);
    CHECK(f.vs_dequantized <= kFp32Rel);
    CHECK(f.vs_cpu_int8 <= kW8A8Rel);
  }
}

TEST_CASE("Vulkan int8 on ViT-Ti: the int8 layers take a quarter of their fp32 device memory",
          "[engine][vulkan][int8][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  const auto dir = shared / "models" / "vit_tiny_patch16_224.augreg_in21k_ft_in1k";
  if (!std::filesystem::exists(dir / "model.safetensors")) return test::skip("ViT-Ti not in shared data");
  check_memory("ViT-Ti", std::make_shared<const Model>(Model::load(dir)));
}
