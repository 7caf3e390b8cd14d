// Helpers shared by tests: a scratch directory removed at the end, names
// unique to this test process, and the rule for tests that need a daemon.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

// Skips the current test with `reason` when a daemon or tool it needs is
// missing, except in CI (CI=true), where a missing daemon is a failure: a
// suite that silently skips its Docker tests must not pass there. Use it in
// a test body or SetUp(); it returns from the enclosing function.
#define PORCH_SKIP_OR_FAIL(reason)                                                \
  do {                                                                           \
    if (::porch::InCi()) {                                                       \
      GTEST_FAIL() << "CI=true and a daemon or tool is missing: " << reason;     \
    }                                                                            \
    GTEST_SKIP() << reason;                                                      \
  } while (0)

namespace porch {

inline bool InCi() {
  const char* ci = getenv("CI");
  return ci && (std::strcmp(ci, "true") == 0 || std::strcmp(ci, "1") == 0);
}

// A name no other test process shares: "<base>-<pid>-<n>". For everything a
// test creates on a shared daemon (runs, containers, networks, images,
// buckets), so two tests, or two test runs, never meet on one name.
inline std::string UniqueName(const std::string& base) {
  static std::atomic<int> counter{0};
  return base + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/porch-test-XXXXXX";
    char* made = mkdtemp(templ.data());
    path_ = made ? made : "";
  }
  ~TempDir() {
    if (!path_.empty() && !getenv("PORCH_KEEP_TEST_DIRS")) {
      std::string cmd = "rm -rf '" + path_ + "'";
      int rc = system(cmd.c_str());
      (void)rc;
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace porch
