// One function of a library loaded with dlopen, by its C name: what the GPU
// path's loaders (CUDA, cuBLAS, NVML) share.
#pragma once

#include <dlfcn.h>

#include <string>
#include <string_view>

namespace tbms {

// Sets `*out` to `name` in `library`; false, with `*error` "no NAME in
// WHERE", when it has none.
template <typename F>
bool FindSymbol(void* library, const char* name, F* out, std::string_view where, std::string* error) {
  *out = reinterpret_cast<F>(dlsym(library, name));
  if (*out == nullptr) *error = "no " + std::string(name) + " in " + std::string(where);
  return *out != nullptr;
}

}  // namespace tbms
