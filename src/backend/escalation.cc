#include "backend/escalation.h"

#include <algorithm>
#include <cmath>

namespace porch {

void ResourceEscalation::Record(Dag::Index index, FailureReason reason) {
  if (reason == FailureReason::kOom) ++ooms_[index];
  if (reason == FailureReason::kTimeout) ++timeouts_[index];
}

uint64_t ResourceEscalation::Memory(Dag::Index index, uint64_t base) const {
  auto it = ooms_.find(index);
  if (base == 0 || it == ooms_.end() || options_.memory_factor <= 1) return base;
  double grown = static_cast<double>(base) * std::pow(options_.memory_factor, it->second);
  double cap = static_cast<double>(std::max(options_.max_memory_bytes, base));
  return static_cast<uint64_t>(std::min(grown, cap));
}

double ResourceEscalation::Time(Dag::Index index, double base) const {
  auto it = timeouts_.find(index);
  if (base <= 0 || it == timeouts_.end() || options_.time_factor <= 1 || options_.max_time_s <= 0) {
    return base;
  }
  double grown = base * std::pow(options_.time_factor, it->second);
  return std::min(grown, std::max(options_.max_time_s, base));
}

}  // namespace porch
