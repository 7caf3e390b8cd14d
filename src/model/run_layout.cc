#include "model/run_layout.h"

#include "platform/files.h"

namespace porch {

std::string RunLayout::RunsDir(const std::string& output_dir) { return output_dir + "/runs"; }

std::string RunLayout::run_id() const {
  std::string d = dir_;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  size_t slash = d.find_last_of('/');
  return slash == std::string::npos ? d : d.substr(slash + 1);
}

std::string RunLayout::RunDir(const std::string& output_dir, const std::string& run_id) {
  return RunsDir(output_dir) + "/" + run_id;
}

nlohmann::json ReadWorkersSnapshot(const RunLayout& layout) {
  Result<std::string> text = ReadFile(layout.workers());
  if (!text.ok() || text->size() > (1u << 20)) return nlohmann::json::array();
  nlohmann::json workers = nlohmann::json::parse(*text, nullptr, false);
  return workers.is_array() ? workers : nlohmann::json::array();
}

}  // namespace porch
