#include "model/run_layout.h"

namespace porch {

std::string RunLayout::RunsDir(const std::string& output_dir) { return output_dir + "/runs"; }

std::string RunLayout::RunDir(const std::string& output_dir, const std::string& run_id) {
  return RunsDir(output_dir) + "/" + run_id;
}

}  // namespace porch
