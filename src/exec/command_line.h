// Whether a task's command can run without a shell. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace porch {

// The words of `command` when it can be executed without a shell (as GNU
// make does): only plain words separated by spaces or tabs, no quoting,
// expansion, redirection, globbing or control operators, and a first word
// that is neither a shell builtin or keyword nor a variable assignment.
// std::nullopt means "run it with /bin/sh -c".
std::optional<std::vector<std::string>> SplitSimpleCommand(const std::string& command);

}  // namespace porch
