// The dashboard's two pages: static HTML with inline CSS (the report's) and
// a little JavaScript that polls the JSON API. No asset comes from anywhere
// but porch.
#pragma once

#include <string>

namespace porch {

std::string RunsPage();
std::string RunPage(const std::string& run_id);

}  // namespace porch
