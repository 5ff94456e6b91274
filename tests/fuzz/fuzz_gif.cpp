// Fuzzes decode_image_bytes + preprocessing from the seeds in corpus/gif/ (GIF: giflib's reader and our first-frame compositing).
#include "fuzz_decode.hpp"
