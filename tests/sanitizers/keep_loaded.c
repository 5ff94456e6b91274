/* Preloaded into sanitizer test runs (CMakePresets.json, test preset "asan"): makes dlclose() a no-op so that no
 * shared library is unloaded before LeakSanitizer's check at exit. The Vulkan loader unloads the driver
 * (lavapipe) and the validation layer when an instance is destroyed; their caches, still referenced from their
 * own globals, would then look leaked and be reported against an "<unknown module>" that no suppression can
 * name. With the libraries kept, such memory is reachable again, and anything LSan still reports is attributed
 * to a named library. Production builds never load this. */
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
