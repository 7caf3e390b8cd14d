// Helpers shared by tests: a scratch directory removed at the end.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace porch {

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
