// Diagnostics collected while reading or checking a plan, reported together
// so a user fixes every problem in one pass.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace porch {

struct Diagnostic {
  int line = 0;  // 1-based; 0 when the parser cannot tell
  std::string message;
};

// InvalidArgument listing every diagnostic as "<source>:<line>: <message>",
// one per line. OK when `diags` is empty.
Status DiagnosticsToStatus(const std::string& source, const std::vector<Diagnostic>& diags);

}  // namespace porch
