// Shared by every vitvk compute shader. Storage type: fp32, or fp16 with VITVK_FP16 (math stays fp32).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#if VITVK_FP16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define STORE_T float16_t
#define STORE_V4 f16vec4
#else
#define STORE_T float
#define STORE_V4 vec4
#endif

// Workgroup id flattened over a 2-D grid (x limited to 65535 groups on many devices).
uint flat_group_id() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }

#ifdef VITVK_NEED_REDUCE
#if VITVK_NO_SUBGROUP_OPS
// Variant for devices without subgroup arithmetic in compute shaders (Vulkan 1.1 guarantees only the basic
// operations there): every invocation's value goes to shared memory and every invocation adds them up in the
// same order. The host keeps these kernels' workgroups within VITVK_REDUCE_MAX invocations.
#define VITVK_REDUCE_MAX 256
shared float vitvk_red[VITVK_REDUCE_MAX];
// `n` = the workgroup size: gl_WorkGroupSize here, before the shader's local_size_x_id declaration, would
// be folded to 1, so the macros below pass it from the call site.
float wg_sum_n(float v, uint n) {
  barrier();  // the previous call's reads are done
  vitvk_red[gl_LocalInvocationIndex] = v;
  barrier();
  float t = 0.0;
  for (uint i = 0; i < n; ++i) t += vitvk_red[i];
  return t;
}
float wg_max_n(float v, uint n) {
  barrier();
  vitvk_red[gl_LocalInvocationIndex] = v;
  barrier();
  float t = vitvk_red[0];
  for (uint i = 1; i < n; ++i) t = max(t, vitvk_red[i]);
  return t;
}
#define wg_sum(v) wg_sum_n(v, gl_WorkGroupSize.x)
#define wg_max(v) wg_max_n(v, gl_WorkGroupSize.x)
#else
// Workgroup-wide sum/max: subgroup arithmetic first, shared memory only when the group spans subgroups.
// One slot per subgroup: gl_NumSubgroups <= workgroup / subgroup size, and these kernels' workgroups are one
// subgroup of the device's size (the host), so 64 slots cover any size >= 4 up to 256 invocations.
shared float vitvk_red[64];
float wg_sum(float v) {
  v = subgroupAdd(v);
  if (gl_NumSubgroups == 1) return v;
  barrier();
  if (subgroupElect()) vitvk_red[gl_SubgroupID] = v;
  barrier();
  float t = 0.0;
  for (uint i = 0; i < gl_NumSubgroups; ++i) t += vitvk_red[i];
  return t;
}
float wg_max(float v) {
  v = subgroupMax(v);
  if (gl_NumSubgroups == 1) return v;
  barrier();
  if (subgroupElect()) vitvk_red[gl_SubgroupID] = v;
  barrier();
  float t = vitvk_red[0];
  for (uint i = 1; i < gl_NumSubgroups; ++i) t = max(t, vitvk_red[i]);
  return t;
}
#endif
#endif
