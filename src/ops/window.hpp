#pragma once
// Swin's token permutations (timm swin_transformer.py), as gathers whose index math is all in the shape:
//   partition:   feature map [H, W, C] -> windows [nW * wh * ww, C]: cyclic shift by -shift (torch.roll), zero
//                padding to a multiple of the window (F.pad after the roll), window_partition's order (windows
//                row-major, tokens row-major inside each window);
//   reverse_add: the inverse (window_reverse, crop, roll by +shift) added into the residual stream: x += ...;
//   merge:       PatchMerging's 2x2 gather [H, W, C] -> [ceil(H/2) * ceil(W/2), 4C] (odd sizes zero-padded), the
//                four pixels of each 2x2 cell in timm's order (0,0), (1,0), (0,1), (1,1) as (dy, dx): its
//                reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5) puts dx before dy.
// Tensors are contiguous per image: [batch, rows, C].

namespace vitvk::ops {

struct WindowShape {
  int batch = 1;
  int height = 0, width = 0;  // the feature map
  int channels = 0;
  int window_h = 0, window_w = 0;  // partition / reverse_add (merge ignores the window and shift)
  int shift_h = 0, shift_w = 0;    // 0 <= shift < the feature size

  int windows_h() const { return (height + window_h - 1) / window_h; }
  int windows_w() const { return (width + window_w - 1) / window_w; }
  int windows() const { return windows_h() * windows_w(); }
  int window_area() const { return window_h * window_w; }
  int window_rows() const { return windows() * window_area(); }  // rows of the window layout per image
  int pixels() const { return height * width; }
  int merged_h() const { return (height + 1) / 2; }
  int merged_w() const { return (width + 1) / 2; }
  int merged_rows() const { return merged_h() * merged_w(); }
};

enum class WindowMode { Partition, ReverseAdd, Merge };
const char* to_string(WindowMode m) noexcept;

// Rows of `out` per image: window_rows (partition), pixels (reverse_add: out is the residual stream), merged_rows.
int window_out_rows(const WindowShape& s, WindowMode mode);
int window_out_cols(const WindowShape& s, WindowMode mode);  // channels, or 4 * channels for merge
int window_in_rows(const WindowShape& s, WindowMode mode);

// Throws Error(InvalidArgument) for an empty shape, a window < 1 or a shift outside [0, size).
void check_window_shape(const WindowShape& s, WindowMode mode);

// CPU: output rows [row0, row1) of all images (rows counted over the batch: image b's row r is b * out_rows + r),
// so that workers can share one call; row1 < 0: to the end.
void window_cpu(const float* in, const WindowShape& s, WindowMode mode, float* out, long row0 = 0, long row1 = -1);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// Vulkan (window.vk.cpp, shaders/window.comp): one invocation per output element, storage precision (the
// reverse_add sum in fp32). in and out must not overlap.
void window_vk(gpu::OpContext& oc, const gpu::Slice& in, const WindowShape& s, WindowMode mode, const gpu::Slice& out);

}  // namespace vitvk::ops
