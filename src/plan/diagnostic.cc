#include "plan/diagnostic.h"

namespace porch {

Status DiagnosticsToStatus(const std::string& source, const std::vector<Diagnostic>& diags) {
  if (diags.empty()) return Status::Ok();
  std::string msg;
  const size_t kMaxShown = 50;
  for (size_t i = 0; i < diags.size() && i < kMaxShown; ++i) {
    if (i) msg += "\n";
    msg += source;
    if (diags[i].line > 0) msg += ":" + std::to_string(diags[i].line);
    msg += ": " + diags[i].message;
  }
  if (diags.size() > kMaxShown) {
    msg += "\n... and " + std::to_string(diags.size() - kMaxShown) + " more problems";
  }
  return Status::InvalidArgument(msg);
}

}  // namespace porch
