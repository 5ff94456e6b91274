#pragma once
#include <vulkan/vulkan_raii.hpp>

#include "vk/kernel.hpp"

namespace vitvk::gpu {

struct Kernel::Impl {
  vk::raii::DescriptorSetLayout set_layout{nullptr};
  vk::raii::PipelineLayout layout{nullptr};
  vk::raii::Pipeline pipeline{nullptr};
};

}  // namespace vitvk::gpu
