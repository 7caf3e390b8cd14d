// A CommandRunner that runs nothing: each call is recorded, and answered by
// `handler` (a scripted cluster) or, for programs with queued replies, by
// the next canned output. A program with neither gets exit 127.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "platform/command_runner.h"

namespace porch {

class FakeCommandRunner : public CommandRunner {
 public:
  using Handler = std::function<CommandOutput(const std::vector<std::string>&)>;

  // Queues `out` as the reply to the next call of `program` (basename).
  void Push(const std::string& program, CommandOutput out) {
    replies_[program].push_back(std::move(out));
  }
  Handler handler;

  Result<CommandOutput> Run(const std::vector<std::string>& argv, double) override {
    calls.push_back(argv);
    std::string prog = Program(argv);
    auto it = replies_.find(prog);
    if (it != replies_.end() && !it->second.empty()) {
      CommandOutput out = it->second.front();
      it->second.pop_front();
      return out;
    }
    if (handler) return handler(argv);
    CommandOutput missing;
    missing.exit_code = 127;
    missing.err = prog + ": not scripted in this test";
    return missing;
  }

  int Count(const std::string& program) const {
    int n = 0;
    for (const auto& c : calls) n += Program(c) == program;
    return n;
  }
  std::vector<std::vector<std::string>> CallsOf(const std::string& program) const {
    std::vector<std::vector<std::string>> out;
    for (const auto& c : calls) {
      if (Program(c) == program) out.push_back(c);
    }
    return out;
  }

  std::vector<std::vector<std::string>> calls;

  static CommandOutput Ok(std::string out) {
    CommandOutput o;
    o.out = std::move(out);
    return o;
  }
  static CommandOutput Fail(int code, std::string err) {
    CommandOutput o;
    o.exit_code = code;
    o.err = std::move(err);
    return o;
  }

 private:
  static std::string Program(const std::vector<std::string>& argv) {
    if (argv.empty()) return "";
    return argv[0].substr(argv[0].find_last_of('/') + 1);
  }
  std::map<std::string, std::deque<CommandOutput>> replies_;
};

}  // namespace porch
