// A finished run on disk, made by the real Runner over a FakeBackend on a
// FakeClock: for tests of what reads run directories (the dashboard, views).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "fakes/fake_backend.h"
#include "run/runner.h"

namespace porch {

// Runs `plan` to its end as `run_id` under `output_dir`; `script` scripts
// the backend (outcomes per task) before the run starts.
inline Result<RunOutcome> RunOnFakeBackend(const Plan& plan, const std::string& output_dir,
                                           const std::string& run_id,
                                           const std::function<void(FakeBackend&)>& script = nullptr) {
  ConfigLoader loader;
  PORCH_RETURN_IF_ERROR(loader.ApplyFlag("output_dir", output_dir, "test"));
  FakeClock clock;
  Runner runner(&clock,
                [&](const Config&, const RunLayout&, const RunIdentity&, Clock*,
                    const Plan&) -> Result<std::unique_ptr<Backend>> {
                  auto b = std::make_unique<FakeBackend>(&clock);
                  if (script) script(*b);
                  return std::unique_ptr<Backend>(std::move(b));
                },
                nullptr, nullptr);
  return runner.Start(plan, loader.loaded(), run_id);
}

}  // namespace porch
