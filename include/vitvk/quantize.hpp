#pragma once
/// @file quantize.hpp
/// vitvk::quantize_model: an int8 copy of a checkpoint, which Classifier::load then runs in int8 without ever
/// holding the fp32 weights of its linear layers (README, "int8 on the CPU").
///
/// @code
///   vitvk::quantize_model("vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit_base_int8", {.group = 64});
///   auto model = vitvk::Classifier::load("vit_base_int8");  // Precision::Auto: int8
/// @endcode
#include <cstdint>
#include <string>

#include "vitvk/export.h"

namespace vitvk {

/// Options for quantize_model.
struct QuantizeOptions {
  /// Input channels per scale: 0, one scale per output channel (the default), or a multiple of 8 up to 65536,
  /// a scale per output channel and group of that many inputs (64: closer to fp32, a little slower on the CPU).
  int group = 0;
};

/// What quantize_model wrote.
struct QuantizeResult {
  std::string source;     ///< the model directory read
  std::string directory;  ///< the directory written
  std::uint64_t source_bytes = 0;  ///< size of the source's model.safetensors
  std::uint64_t bytes = 0;         ///< size of the copy's model.safetensors
  int int8_layers = 0;             ///< linear layers stored as int8
  int group = 0;                   ///< QuantizeOptions::group
};

/// Writes a copy of `model` (a directory or a bare name, found as Classifier::load finds it) to the directory `out`
/// with every transformer block's attn.qkv, attn.proj, mlp.fc1 and mlp.fc2 weight in int8 (symmetric, an F32 scale
/// per output channel or per channel and group; I8 tensors beside `<name>_scale`). Every other tensor keeps its
/// bytes and dtype; config.json and the LICENSE / NOTICE / COPYING / README files are copied as they are. Any
/// ViT-family checkpoint: ViT, DeiT, DeiT-III, DINOv2, CLIP, SigLIP. Throws Error(Unsupported) for other families,
/// Error(InvalidArgument) for a model already int8, a bad group or `out` naming the model's own directory,
/// Error(Io / ModelFormat) as Classifier::load does and when `out` cannot be written.
VITVK_API QuantizeResult quantize_model(const std::string& model, const std::string& out,
                                        const QuantizeOptions& options = {});

}  // namespace vitvk
