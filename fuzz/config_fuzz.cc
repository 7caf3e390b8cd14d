// Fuzz target: the config loader (YAML or JSON config files).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  porch::ConfigLoader loader;
  std::string text(reinterpret_cast<const char*>(data), size);
  if (loader.ApplyText(text, "fuzz").ok()) {
    (void)loader.Check();
    (void)porch::FormatConfigJson(loader.loaded());
  }
  return 0;
}
