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
// Workgroup-wide sum/max: subgroup arithmetic first, shared memory only when the group spans subgroups.
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
