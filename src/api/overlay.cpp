// vitvk::render_overlay: the library's overlay renderer over public types.
#include <cstring>

#include "api/convert.hpp"
#include "explain/overlay.hpp"
#include "vitvk/explain.hpp"

namespace vitvk {

Image render_overlay(const ImageView& photo, const AttentionMap& map, const OverlayStyle& style) {
  return api::guarded("vitvk::render_overlay", [&] {
    if (map.width <= 0 || map.height <= 0 || map.values.size() != static_cast<std::size_t>(map.width) * map.height)
      throw Error(ErrorCode::InvalidArgument, "render_overlay: the map is empty or its values do not match " +
                                                  std::to_string(map.width) + "x" + std::to_string(map.height));
    const cv::Mat rgb = api::rgb_of(photo, "render_overlay: photo");
    RolloutMap internal;
    internal.w = map.width;
    internal.h = map.height;
    internal.values = map.values;
    vitvk::OverlayOptions o;
    o.opacity = style.opacity;
    o.colormap = parse_colormap(style.colormap);
    o.outside_brightness = style.outside_brightness;
    const cv::Mat out = vitvk::render_overlay(rgb, internal, api::to_internal(map.crop), o);
    // Image's pixels are tightly packed; render_overlay returns a fresh continuous Mat.
    return Image(ImageView{out.data, out.cols, out.rows, static_cast<std::size_t>(out.step[0]), PixelFormat::Rgb8});
  });
}

}  // namespace vitvk
