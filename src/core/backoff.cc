#include "core/backoff.h"

#include <algorithm>
#include <cmath>

namespace porch {

double Backoff::Delay(int failures, double unit_random) const {
  double delay = initial_s;
  if (failures > 1) delay *= std::pow(multiplier, failures - 1);
  delay = std::min(delay, max_s);
  double spread = jitter * (2.0 * unit_random - 1.0);  // [-jitter, +jitter)
  return std::max(0.0, delay * (1.0 + spread));
}

}  // namespace porch
