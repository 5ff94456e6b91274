// Fuzzes decode_image_bytes + preprocessing from the seeds in corpus/heif/ (HEIF/HEIC and AVIF: our ISO box probe, then libheif (libde265, dav1d)).
#include "fuzz_decode.hpp"
