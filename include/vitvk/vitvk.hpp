#pragma once
/// @file vitvk.hpp
/// Everything in vitvk's C++ API (OpenCV-free; add vitvk/opencv.hpp for cv::Mat input). The C API is vitvk.h.
///
///  - Classifier (classifier.hpp): load a model, classify / embed / explain images
///  - Image, ImageView (image.hpp): pixels in and out
///  - AttentionMap, render_overlay (explain.hpp): rollout maps and overlays
///  - list_devices (devices.hpp): the Vulkan devices
///  - quantize_model (quantize.hpp): an int8 copy of a checkpoint
///  - Error, ErrorCode (error.hpp): what every function throws
#include "vitvk/classifier.hpp"
#include "vitvk/devices.hpp"
#include "vitvk/error.hpp"
#include "vitvk/explain.hpp"
#include "vitvk/image.hpp"
#include "vitvk/prediction.hpp"
#include "vitvk/quantize.hpp"
