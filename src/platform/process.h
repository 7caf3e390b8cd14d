// Runs a short helper program (git, for instance) from porch's own process
// and waits for it: argv, working directory, extra environment; stdin from
// /dev/null; stdout and stderr captured together. Blocks; single-threaded
// callers only (it waits for its own child by pid).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace porch {

struct ProcessResult {
  int exit_code = 0;
  std::string output;
};

// Fails (IoError) only when the program could not be started.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const std::string& cwd,
                                 const std::vector<std::pair<std::string, std::string>>& env = {});

// The passwd name of `uid` (getpwuid_r: safe from any thread); "" when the
// system has no entry for it.
std::string UserName(uid_t uid);

}  // namespace porch
