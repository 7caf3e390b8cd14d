// Fuzz target: the plan parser (JSON and YAML), then validation and the DAG.
// The first byte picks the format; the rest is the plan text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plan/dag.h"
#include "plan/plan_parser.h"
#include "plan/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const porch::PlanFormat format = data[0] % 3 == 0   ? porch::PlanFormat::kJson
                                   : data[0] % 3 == 1 ? porch::PlanFormat::kYaml
                                                      : porch::PlanFormat::kAuto;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  porch::Result<porch::Plan> plan = porch::ParsePlan(text, "fuzz", format);
  if (!plan.ok()) return 0;
  if (!porch::ValidatePlan(*plan).ok()) return 0;
  porch::Dag dag(*plan);
  (void)dag.TopologicalOrder();
  (void)porch::PlanToJsonText(*plan);
  return 0;
}
