#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "vitvk/error.hpp"
#include "vk/buffer.hpp"
#include "vk/context_impl.hpp"

namespace vitvk::gpu {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                          VkDebugUtilsMessageTypeFlagsEXT, const VkDebugUtilsMessengerCallbackDataEXT* data,
                                          void* user) {
  auto* log = static_cast<MessageLog*>(user);
  const char* sev = severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning";
  std::lock_guard lock(log->mutex);
  log->messages.push_back(std::string(sev) + ": " + (data && data->pMessage ? data->pMessage : "(no message)"));
  return VK_FALSE;
}

std::pair<std::string, int> type_of(vk::PhysicalDeviceType t) {
  switch (t) {
    case vk::PhysicalDeviceType::eDiscreteGpu: return {"discrete", 0};
    case vk::PhysicalDeviceType::eIntegratedGpu: return {"integrated", 1};
    case vk::PhysicalDeviceType::eVirtualGpu: return {"virtual", 2};
    case vk::PhysicalDeviceType::eCpu: return {"cpu", 3};
    default: return {"other", 4};
  }
}

bool has_extension(const std::vector<vk::ExtensionProperties>& exts, const char* name) {
  return std::any_of(exts.begin(), exts.end(), [&](const auto& e) { return std::strcmp(e.extensionName, name) == 0; });
}

vk::raii::Instance make_instance(const vk::raii::Context& ctx, bool validation) {
  vk::ApplicationInfo app{.pApplicationName = "vitvk", .applicationVersion = 1, .pEngineName = "vitvk",
                          .engineVersion = 1, .apiVersion = VK_API_VERSION_1_2};
  std::vector<const char*> layers, exts;
  if (validation) {
    const auto avail = ctx.enumerateInstanceLayerProperties();
    if (std::none_of(avail.begin(), avail.end(), [](const auto& l) { return std::strcmp(l.layerName, kValidationLayer) == 0; }))
      throw Error(ErrorCode::Unsupported, std::string("Vulkan validation requested but ") + kValidationLayer +
                                              " is not installed (Debian: vulkan-validationlayers)");
    layers.push_back(kValidationLayer);
    exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  // Synchronization validation catches missing barriers between our dispatches.
  const vk::ValidationFeatureEnableEXT enables[] = {vk::ValidationFeatureEnableEXT::eSynchronizationValidation};
  vk::ValidationFeaturesEXT features{.enabledValidationFeatureCount = 1, .pEnabledValidationFeatures = enables};
  vk::InstanceCreateInfo info{.pNext = validation ? &features : nullptr,
                              .pApplicationInfo = &app,
                              .enabledLayerCount = static_cast<uint32_t>(layers.size()),
                              .ppEnabledLayerNames = layers.data(),
                              .enabledExtensionCount = static_cast<uint32_t>(exts.size()),
                              .ppEnabledExtensionNames = exts.data()};
  return vk::raii::Instance(ctx, info);
}

DeviceInfo describe(const vk::raii::PhysicalDevice& pd, int index) {
  DeviceInfo d;
  d.index = index;
  const auto base = pd.getProperties();
  d.name = base.deviceName.data();
  std::tie(d.type, d.type_rank) = type_of(base.deviceType);
  d.vendor_id = base.vendorID;
  d.device_id = base.deviceID;
  std::copy(base.pipelineCacheUUID.begin(), base.pipelineCacheUUID.end(), d.pipeline_cache_uuid.begin());
  d.api_version = base.apiVersion;
  d.driver_version = base.driverVersion;
  d.max_storage_buffer_range = base.limits.maxStorageBufferRange;
  d.min_storage_buffer_offset_alignment = base.limits.minStorageBufferOffsetAlignment;
  d.min_texel_buffer_offset_alignment = base.limits.minTexelBufferOffsetAlignment;
  d.max_texel_buffer_elements = base.limits.maxTexelBufferElements;
  for (int f = 0; f < kTexelFormatCount; ++f)
    if (pd.getFormatProperties(vk_format(static_cast<TexelFormat>(f))).bufferFeatures &
        vk::FormatFeatureFlagBits::eUniformTexelBuffer)
      d.uniform_texel_formats |= 1u << f;
  d.shared_memory_bytes = base.limits.maxComputeSharedMemorySize;
  d.max_workgroup_invocations = base.limits.maxComputeWorkGroupInvocations;
  d.timestamps = base.limits.timestampComputeAndGraphics;
  d.timestamp_period_ns = base.limits.timestampPeriod;
  const auto exts = pd.enumerateDeviceExtensionProperties();
  d.push_descriptor = has_extension(exts, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  d.coopmat_nv = has_extension(exts, "VK_NV_cooperative_matrix");
  d.coopmat_khr = has_extension(exts, "VK_KHR_cooperative_matrix");
  if (base.apiVersion >= VK_API_VERSION_1_2) {
    auto props = pd.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceDriverProperties,
                                   vk::PhysicalDeviceSubgroupProperties, vk::PhysicalDeviceIDProperties>();
    const auto& drv = props.get<vk::PhysicalDeviceDriverProperties>();
    d.driver_name = drv.driverName.data();
    d.driver_info = drv.driverInfo.data();
    d.driver_id = static_cast<uint32_t>(drv.driverID);
    const auto& sg = props.get<vk::PhysicalDeviceSubgroupProperties>();
    d.subgroup_size = sg.subgroupSize;
    d.min_subgroup_size = d.max_subgroup_size = sg.subgroupSize;
    using Op = vk::SubgroupFeatureFlagBits;
    const auto needed = Op::eBasic | Op::eArithmetic | Op::eBallot;
    d.subgroup_arithmetic = (sg.supportedStages & vk::ShaderStageFlagBits::eCompute) &&
                            (sg.supportedOperations & needed) == needed;
    std::ostringstream uuid;
    for (auto b : props.get<vk::PhysicalDeviceIDProperties>().deviceUUID) uuid << std::hex << (b >> 4) << (b & 15);
    d.device_uuid = uuid.str();
    auto feats = pd.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceVulkan11Features,
                                 vk::PhysicalDeviceVulkan12Features>();
    d.fp16_storage = feats.get<vk::PhysicalDeviceVulkan11Features>().storageBuffer16BitAccess;
    d.fp16_arithmetic = feats.get<vk::PhysicalDeviceVulkan12Features>().shaderFloat16;
    // Queried only where the extension exists (chaining an unknown struct is invalid usage).
    if (has_extension(exts, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)) {
      auto sp = pd.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceSubgroupSizeControlPropertiesEXT>();
      const auto& sc = sp.get<vk::PhysicalDeviceSubgroupSizeControlPropertiesEXT>();
      auto sf = pd.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceSubgroupSizeControlFeaturesEXT>();
      const auto& scf = sf.get<vk::PhysicalDeviceSubgroupSizeControlFeaturesEXT>();
      if (sc.minSubgroupSize && sc.maxSubgroupSize >= sc.minSubgroupSize) {
        d.min_subgroup_size = sc.minSubgroupSize;
        d.max_subgroup_size = sc.maxSubgroupSize;
      }
      d.subgroup_size_control = scf.subgroupSizeControl &&
                                (sc.requiredSubgroupSizeStages & vk::ShaderStageFlagBits::eCompute);
      d.full_subgroups = scf.computeFullSubgroups;
    }
  }
  const auto mem = pd.getMemoryProperties();
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    if (mem.memoryHeaps[i].flags & vk::MemoryHeapFlagBits::eDeviceLocal) d.device_local_bytes += mem.memoryHeaps[i].size;
  return d;
}

// An optional feature's setting: the option where set, else the environment variable (0 = off, 1 = on), else on.
bool allowed(std::optional<bool> option, const char* env_name) {
  if (option) return *option;
  const char* env = std::getenv(env_name);
  if (!env || !*env) return true;
  const std::string v = env;
  if (v != "0" && v != "1")
    throw Error(ErrorCode::InvalidArgument, std::string(env_name) + "='" + v + "' is neither 0 nor 1");
  return v == "1";
}

}  // namespace

bool DeviceInfo::is_lavapipe() const { return driver_id == static_cast<uint32_t>(vk::DriverId::eMesaLlvmpipe); }

std::string DeviceInfo::api_version_string() const {
  return std::to_string(VK_API_VERSION_MAJOR(api_version)) + "." + std::to_string(VK_API_VERSION_MINOR(api_version)) +
         "." + std::to_string(VK_API_VERSION_PATCH(api_version));
}

void throw_vulkan_error(const char* what, vk::Result result) {
  const std::string msg = std::string(what) + ": " + vk::to_string(result);
  if (result == vk::Result::eErrorDeviceLost) throw Error(ErrorCode::DeviceLost, msg);
  if (result == vk::Result::eErrorOutOfDeviceMemory || result == vk::Result::eErrorOutOfHostMemory)
    throw Error(ErrorCode::OutOfMemory, msg);
  throw Error(ErrorCode::Vulkan, msg);
}

std::vector<DeviceInfo> list_devices() {
  try {
    vk::raii::Context ctx;
    vk::raii::Instance instance = make_instance(ctx, false);
    vk::raii::PhysicalDevices pds(instance);
    std::vector<DeviceInfo> out;
    for (std::size_t i = 0; i < pds.size(); ++i) out.push_back(describe(pds[i], static_cast<int>(i)));
    return out;
  } catch (const vk::SystemError& e) {
    throw Error(ErrorCode::Vulkan, std::string("enumerating Vulkan devices: ") + e.what());
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const Error*>(&e)) throw;
    throw Error(ErrorCode::Vulkan, std::string("Vulkan loader: ") + e.what());
  }
}

int pick_device(const std::vector<DeviceInfo>& devices, std::optional<int> requested) {
  if (devices.empty()) throw Error(ErrorCode::Unsupported, "no Vulkan device found");
  if (!requested) {
    if (const char* env = std::getenv("VITVK_DEVICE"); env && *env) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (*end != '\0') throw Error(ErrorCode::InvalidArgument, std::string("VITVK_DEVICE='") + env + "' is not a device index");
      requested = static_cast<int>(v);
    }
  }
  if (requested) {
    if (*requested < 0 || *requested >= static_cast<int>(devices.size()))
      throw Error(ErrorCode::InvalidArgument, "Vulkan device " + std::to_string(*requested) + " does not exist (" +
                                                  std::to_string(devices.size()) + " found; see `vitvk devices`)");
    return *requested;
  }
  // Between devices of one type (lavapipe and SwiftShader are both CPU devices; the loader lists them in
  // whatever order VK_DRIVER_FILES / VK_ADD_DRIVER_FILES give), the one with more of the optional features.
  const auto extras = [](const DeviceInfo& d) { return int(d.push_descriptor) + int(d.fp16_storage) + int(d.subgroup_size >= 8); };
  const auto better = [&](const DeviceInfo& a, const DeviceInfo& b) {
    if ((a.api_version >= VK_API_VERSION_1_2) != (b.api_version >= VK_API_VERSION_1_2)) return a.api_version >= VK_API_VERSION_1_2;
    if (a.type_rank != b.type_rank) return a.type_rank < b.type_rank;
    return extras(a) > extras(b);
  };
  int best = 0;
  for (const auto& d : devices)
    if (better(d, devices[best])) best = d.index;
  return best;
}

Context::Context(const ContextOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  try {
    m.instance = make_instance(m.context, options.validation);
    if (options.validation) {
      using S = vk::DebugUtilsMessageSeverityFlagBitsEXT;
      using T = vk::DebugUtilsMessageTypeFlagBitsEXT;
      vk::DebugUtilsMessengerCreateInfoEXT mi{.messageSeverity = S::eWarning | S::eError,
                                              .messageType = T::eValidation | T::ePerformance,
                                              .pfnUserCallback = &on_message,
                                              .pUserData = m.log.get()};
      m.messenger = vk::raii::DebugUtilsMessengerEXT(m.instance, mi);
    }
    vk::raii::PhysicalDevices pds(m.instance);
    std::vector<DeviceInfo> infos;
    for (std::size_t i = 0; i < pds.size(); ++i) infos.push_back(describe(pds[i], static_cast<int>(i)));
    const int index = pick_device(infos, options.device);
    info_ = infos[index];
    m.physical = std::move(pds[index]);
    if (info_.api_version < VK_API_VERSION_1_2)
      throw Error(ErrorCode::Unsupported, "Vulkan device '" + info_.name + "' supports only API " +
                                              info_.api_version_string() + "; vitvk needs 1.2");
    push_descriptors_enabled_ = info_.push_descriptor && allowed(options.push_descriptors, "VITVK_VK_PUSH_DESCRIPTORS");
    subgroup_ops_enabled_ = info_.subgroup_arithmetic && allowed(options.subgroup_ops, "VITVK_VK_SUBGROUP_OPS");

    const auto families = m.physical.getQueueFamilyProperties();
    std::optional<uint32_t> family;
    for (uint32_t i = 0; i < families.size(); ++i)
      if (families[i].queueFlags & vk::QueueFlagBits::eCompute) {
        // Prefer a compute queue without graphics (dedicated compute engine) when there is one.
        if (!family || !(families[i].queueFlags & vk::QueueFlagBits::eGraphics)) family = i;
        if (!(families[i].queueFlags & vk::QueueFlagBits::eGraphics)) break;
      }
    if (!family) throw Error(ErrorCode::Unsupported, "Vulkan device '" + info_.name + "' has no compute queue");
    m.queue_family = *family;
    if (!(families[*family].queueFlags & vk::QueueFlagBits::eGraphics) && families[*family].timestampValidBits == 0)
      info_.timestamps = false;

    fp16_storage_enabled_ = options.enable_fp16 && info_.fp16_storage;
    fp16_arith_enabled_ = fp16_storage_enabled_ && info_.fp16_arithmetic;
    // Only what the device has and this context uses is enabled: each is optional (README: Vulkan requirements).
    subgroup_size_control_enabled_ = info_.subgroup_size_control;
    vk::PhysicalDeviceSubgroupSizeControlFeaturesEXT fsc{.subgroupSizeControl = subgroup_size_control_enabled_,
                                                         .computeFullSubgroups = info_.full_subgroups};
    vk::PhysicalDeviceVulkan12Features f12{.pNext = subgroup_size_control_enabled_ ? &fsc : nullptr,
                                           .shaderFloat16 = fp16_arith_enabled_};
    vk::PhysicalDeviceVulkan11Features f11{.pNext = &f12, .storageBuffer16BitAccess = fp16_storage_enabled_};
    vk::PhysicalDeviceFeatures2 f2{.pNext = &f11};
    const float priority = 1.0f;
    vk::DeviceQueueCreateInfo qi{.queueFamilyIndex = m.queue_family, .queueCount = 1, .pQueuePriorities = &priority};
    std::vector<const char*> exts;
    if (push_descriptors_enabled_) exts.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    if (subgroup_size_control_enabled_) exts.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    vk::DeviceCreateInfo di{.pNext = &f2,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qi,
                            .enabledExtensionCount = static_cast<uint32_t>(exts.size()),
                            .ppEnabledExtensionNames = exts.data()};
    m.device = vk::raii::Device(m.physical, di);
    m.queue = vk::raii::Queue(m.device, m.queue_family, 0);
    m.memory = m.physical.getMemoryProperties();
  } catch (const vk::SystemError& e) {  // out of memory and device loss keep their ErrorCode
    throw_vulkan_error("creating the Vulkan context", static_cast<vk::Result>(e.code().value()));
  }
}

Context::~Context() = default;

std::vector<std::string> Context::validation_messages() const {
  std::lock_guard lock(impl_->log->mutex);
  return impl_->log->messages;
}

}  // namespace vitvk::gpu
