// Progress display for long runs. On a terminal: one live status line
// (done / running / failed / pending, elapsed) redrawn in place, with task
// failures printed above it. Otherwise: one plain, timestamped log line per
// transition, for CI logs and files.
#pragma once

#include <cstdio>
#include <string>

#include "sched/scheduler.h"

namespace porch {

class ProgressPrinter : public SchedulerListener {
 public:
  // Writes to `out` (normally stderr). `tty`: live line; `quiet`: only
  // failures. `start` is the clock time the run began.
  ProgressPrinter(FILE* out, bool tty, bool quiet, double start, size_t total);

  void OnLaunched(const Task& t, int attempt, const std::string& job_id) override;
  void OnFinished(const Task& t, const BackendEvent& ev, TaskState now,
                  double retry_delay) override;
  void OnSkipped(const Task& t, const std::string& why) override;
  void OnTick(const RunCounts& counts, double now) override;

  // Clears the live line (call before printing the summary).
  void Done();

 private:
  void Line(const std::string& text, double now);
  void Redraw(double now);

  FILE* out_;
  bool tty_;
  bool quiet_;
  double start_;
  size_t total_;
  double last_now_;
  RunCounts counts_;
  double last_draw_ = 0;
  bool line_shown_ = false;
};

}  // namespace porch
