#include "cli/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace porch {
namespace {

// Captures what a ProgressPrinter writes.
class Capture {
 public:
  Capture() : f_(open_memstream(&buf_, &size_)) {}
  ~Capture() {
    std::fclose(f_);
    free(buf_);
  }
  FILE* file() { return f_; }
  std::string text() {
    std::fflush(f_);
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  FILE* f_;
};

BackendEvent Finished(double time, double started, FailureReason reason, std::string detail) {
  BackendEvent ev = FailedEvent(0, 1, time, reason, std::move(detail), reason == FailureReason::kNone ? 0 : 1);
  ev.started_at = started;
  return ev;
}

Task NamedTask(const std::string& id) {
  Task t;
  t.id = id;
  return t;
}

TEST(ProgressPrinterTest, PlainOutputHasOneTimestampedLinePerTransition) {
  Capture c;
  ProgressPrinter p(c.file(), /*tty=*/false, /*quiet=*/false, /*start=*/100, /*total=*/3);
  Task a = NamedTask("a"), b = NamedTask("b"), d = NamedTask("d");
  p.OnLaunched(a, 1, "local:1:2");
  p.OnFinished(a, Finished(101.5, 100, FailureReason::kNone, ""), TaskState::kSucceeded, 0);
  p.OnFinished(b, Finished(102, 101, FailureReason::kExitCode, "exit 3"), TaskState::kRetryWait, 2);
  p.OnFinished(b, Finished(105, 104, FailureReason::kExitCode, "exit 3"), TaskState::kFailed, 0);
  p.OnSkipped(d, "dependency 'b' failed");
  p.Done();
  std::string out = c.text();
  EXPECT_NE(out.find("[    0.00s] start   a (attempt 1, local:1:2)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[    1.50s] ok      a in "), std::string::npos) << out;
  EXPECT_NE(out.find("[    2.00s] retry   b (attempt 1 failed: exit 3; next try in "), std::string::npos) << out;
  EXPECT_NE(out.find("[    5.00s] FAILED  b (attempt 1): exit 3  [porch logs RUN b]\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("skip    d (dependency 'b' failed)"), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << "no terminal control off a terminal";
  EXPECT_EQ(out.find("\033["), std::string::npos);
}

TEST(ProgressPrinterTest, AnAttemptThatEndedBeforeTheZeroIsNeverNegative) {
  // Resume: an attempt finished while porch was down, before the zero.
  Capture c;
  ProgressPrinter p(c.file(), /*tty=*/false, /*quiet=*/false, /*start=*/100, /*total=*/1);
  Task a = NamedTask("a");
  p.OnFinished(a, Finished(83.35, 80, FailureReason::kNone, ""), TaskState::kSucceeded, 0);
  std::string out = c.text();
  EXPECT_NE(out.find("[    0.00s] ok      a in "), std::string::npos) << out;
  EXPECT_EQ(out.find("-"), std::string::npos) << out;
}

TEST(ProgressPrinterTest, QuietPrintsOnlyFailures) {
  Capture c;
  ProgressPrinter p(c.file(), false, /*quiet=*/true, 0, 2);
  Task a = NamedTask("a"), b = NamedTask("b");
  p.OnLaunched(a, 1, "j1");
  p.OnFinished(a, Finished(1, 0, FailureReason::kNone, ""), TaskState::kSucceeded, 0);
  p.OnSkipped(b, "x");
  p.OnFinished(b, Finished(2, 1, FailureReason::kTimeout, "time limit of 1s exceeded"),
               TaskState::kFailed, 0);
  std::string out = c.text();
  EXPECT_EQ(out.find("start"), std::string::npos) << out;
  EXPECT_EQ(out.find("ok "), std::string::npos) << out;
  EXPECT_EQ(out.find("skip"), std::string::npos) << out;
  EXPECT_NE(out.find("FAILED  b (attempt 1): time limit of 1s exceeded"), std::string::npos) << out;
}

TEST(ProgressPrinterTest, TerminalRedrawsOneLiveLineAndClearsIt) {
  Capture c;
  ProgressPrinter p(c.file(), /*tty=*/true, false, 0, 4);
  RunCounts counts;
  counts.succeeded = 1;
  counts.running = 2;
  counts.pending = 1;
  p.OnTick(counts, 65);
  std::string out = c.text();
  EXPECT_NE(out.find("\r\033[K[1m05s] 1/4 done, 2 running, 0 failed, 0 skipped, 1 pending"),
            std::string::npos)
      << out;
  // A failure is printed above the live line, which is drawn again below it.
  Task b = NamedTask("b");
  p.OnFinished(b, Finished(66, 60, FailureReason::kExitCode, "exit 1"), TaskState::kFailed, 0);
  out = c.text();
  size_t failed = out.find("FAILED  b");
  ASSERT_NE(failed, std::string::npos) << out;
  EXPECT_NE(out.find("1/4 done", failed), std::string::npos) << out;
  // Successes do not scroll the terminal: the live line says it.
  size_t before = c.text().size();
  p.OnFinished(NamedTask("a"), Finished(67, 66, FailureReason::kNone, ""), TaskState::kSucceeded, 0);
  EXPECT_EQ(c.text().size(), before);
  p.Done();
  EXPECT_EQ(c.text().substr(c.text().size() - 4), "\r\033[K");
}

// Attempts the backend holds for a free slot are not running yet: the line
// shows them as pending.
TEST(ProgressPrinterTest, AttemptsWaitingForASlotAreShownPending) {
  Capture c;
  ProgressPrinter p(c.file(), /*tty=*/true, false, 0, 8);
  RunCounts counts;
  counts.running = 4;
  counts.queued = 2;
  counts.pending = 4;
  p.OnTick(counts, 1);
  EXPECT_NE(c.text().find("0/8 done, 2 running, 0 failed, 0 skipped, 6 pending"), std::string::npos) << c.text();
}

TEST(ProgressPrinterTest, TicksAreThrottledOnATerminal) {
  Capture c;
  ProgressPrinter p(c.file(), true, false, 0, 1);
  RunCounts counts;
  counts.pending = 1;
  p.OnTick(counts, 1.0);
  size_t once = c.text().size();
  p.OnTick(counts, 1.01);  // within 0.1 s: no redraw
  EXPECT_EQ(c.text().size(), once);
  p.OnTick(counts, 1.2);
  EXPECT_GT(c.text().size(), once);
}

}  // namespace
}  // namespace porch
