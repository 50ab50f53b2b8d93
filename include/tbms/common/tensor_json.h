// Tensor data as JSON, exactly: integers in full (UINT64 too), floats as the
// shortest text that reads back as the same value, FP16 as the fewest digits
// that read back as the same half, BYTES as strings (invalid UTF-8 bytes
// become U+FFFD). Shared by the KServe v2 edge and by backends that answer
// with tensor data (the simulator's identity model). Thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "tbms/common/tensor.h"

namespace tbms {

// Appends the elements of `t` as a JSON array: flat, or nested by its shape.
void AppendTensorData(const Tensor& t, std::string& out, bool nested = false);

// Appends `v` as the shortest text that reads back as the same double
// (null for NaN and infinities, which JSON cannot carry).
void AppendShortestNumber(std::string& out, double v);

// Rounds `v` (|v| < 65520) to the nearest half, ties to even, in one step.
uint16_t DoubleToHalf(double v);

}  // namespace tbms
