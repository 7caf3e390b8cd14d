#include "cli/progress.h"

#include <algorithm>

#include "core/strings.h"

namespace porch {

ProgressPrinter::ProgressPrinter(FILE* out, bool tty, bool quiet, double start, size_t total)
    : out_(out), tty_(tty), quiet_(quiet), start_(start), total_(total), last_now_(start) {
  counts_.pending = total;
}

void ProgressPrinter::Line(const std::string& text, double now) {
  if (tty_ && line_shown_) std::fputs("\r\033[K", out_);
  char stamp[32];
  // Never negative: an attempt may have ended (while porch was down) before
  // the zero chosen for this process.
  std::snprintf(stamp, sizeof stamp, "[%8.2fs] ", std::max(0.0, now - start_));
  std::fputs(stamp, out_);
  std::fputs(text.c_str(), out_);
  std::fputc('\n', out_);
  line_shown_ = false;
  if (tty_) Redraw(now);
}

void ProgressPrinter::OnLaunched(const Task& t, int attempt, const std::string& job_id) {
  if (quiet_ || tty_) return;
  Line("start   " + t.id + " (attempt " + std::to_string(attempt) + ", " + job_id + ")",
       last_now_);
}

void ProgressPrinter::OnFinished(const Task& t, const BackendEvent& ev, TaskState now,
                                 double retry_delay) {
  last_now_ = ev.time;
  std::string what;
  switch (now) {
    case TaskState::kSucceeded:
      if (quiet_ || tty_) return;
      what = "ok      " + t.id + " in " + FormatDuration(ev.time - ev.started_at);
      break;
    case TaskState::kRetryWait:
      what = "retry   " + t.id + " (attempt " + std::to_string(ev.attempt) + " failed: " +
             ev.detail + "; next try in " + FormatDuration(retry_delay) + ")";
      break;
    case TaskState::kFailed:
      what = "FAILED  " + t.id + " (attempt " + std::to_string(ev.attempt) + "): " + ev.detail +
             "  [porch logs RUN " + t.id + "]";
      break;
    case TaskState::kCancelled:
      if (quiet_) return;
      what = "cancel  " + t.id;
      break;
    case TaskState::kPending:
      what = "rerun   " + t.id + " (" + ev.detail + ")";
      break;
    default:
      return;
  }
  Line(what, ev.time);
}

void ProgressPrinter::OnSkipped(const Task& t, const std::string& why) {
  if (quiet_) return;
  Line("skip    " + t.id + " (" + why + ")", last_now_);
}

void ProgressPrinter::OnTick(const RunCounts& counts, double now) {
  counts_ = counts;
  last_now_ = now;
  if (tty_ && now - last_draw_ >= 0.1) Redraw(now);
}

void ProgressPrinter::Redraw(double now) {
  last_draw_ = now;
  size_t done = counts_.succeeded;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "\r\033[K[%s] %zu/%zu done, %zu running, %zu failed, %zu skipped, %zu pending",
                FormatDuration(now - start_).c_str(), done, total_, counts_.running - counts_.queued,
                counts_.failed, counts_.skipped, counts_.pending + counts_.retry_wait + counts_.queued);
  std::fputs(buf, out_);
  std::fflush(out_);
  line_shown_ = true;
}

void ProgressPrinter::Done() {
  if (tty_ && line_shown_) std::fputs("\r\033[K", out_);
  line_shown_ = false;
  std::fflush(out_);
}

}  // namespace porch
