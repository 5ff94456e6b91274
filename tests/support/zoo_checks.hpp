#pragma once
// The checks every timm-golden family test runs on a case of the zoo layout (support/zoo_golden.hpp): the model
// loaded as a user would, the eval transform against timm's input, each backend's outputs against timm's, the
// fp16 path, malformed checkpoints refused by name. test_vit_zoo, test_eva, test_beit and test_swin share them.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "support/zoo_golden.hpp"

namespace vitvk::test {

struct LoadedCase {
  ZooCase c;
  std::shared_ptr<const Model> model;
};
LoadedCase load_case(const std::string& name, const std::filesystem::path& root = zoo_dir());

inline int batch_of(const ZooCase& c) { return static_cast<int>(c.input_shape[0]); }

// vitvk reads pretrained_cfg as timm's resolve_data_config does, and its eval transform of the case's photos
// gives timm's input within preprocess_abs (decode + PIL-style resize + crop + normalise).
void check_preprocess(const LoadedCase& l);

// fp32: logits and features within fp32_rel of timm (max |diff| / max |value|), the same top-1; where the case
// has attention maps, the explain maps (mean / max / min over heads per block, timm's [depth, batch, 3, T, T]
// first) within attn_abs. Returns the result (for rollout checks).
ForwardResult check_fp32(const std::string& what, const ZooCase& c, Backend& b);

// Vulkan with the validation layer on, sized for the case's batch.
VulkanBackendOptions vulkan_options(const ZooCase& c, bool fp16);
// No validation message (each one printed).
void require_clean(const Backend& b);

// The case on the CPU backend, and on Vulkan fp32 with the validation layer on (then require_clean), each
// through check_fp32.
ForwardResult check_cpu_fp32(const LoadedCase& l);
ForwardResult check_vulkan_fp32(const LoadedCase& l);

// A model (random weights, say) on both backends: `batch` random images, Vulkan fp32 with the validation layer
// on within 1e-4 of the CPU backend's logits (max |diff| / max |logit|), no validation message.
void check_vulkan_matches_cpu(std::shared_ptr<const Model> model, int batch);

// fp16 storage: logits and features within fp16_abs of timm, the same top-1 (the goldens' top-1 leads by >= 0.1);
// skipped where the device has no 16-bit storage buffers.
void check_vulkan_fp16(const std::string& name, const std::filesystem::path& root = zoo_dir());

// `vitvk bench --arch ARCH -b cpu` (random weights, one pass, JSON): exits 0 and reports a positive GFLOP/s.
// Returns its GFLOP per image (the FLOP count each family's test derives by hand).
double bench_gflop_per_image(const std::string& arch);

// The load throws Error(ModelFormat) naming the file and holding the case's error strings.
void check_malformed(const std::string& name, const std::filesystem::path& root = zoo_dir());

}  // namespace vitvk::test
