// Fuzzes decode_image_bytes + preprocessing from the seeds in corpus/image/ (every format: OpenCV's decoders mostly).
#include "fuzz_decode.hpp"
