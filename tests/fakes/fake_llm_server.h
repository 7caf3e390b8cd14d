// Starts the project's fake LLM API server (tests/fake_llm/fake_llm_server.py)
// on 127.0.0.1 with a script, and stops it when destroyed. Tests read the
// server's request log to assert on what porch sent.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "platform/files.h"

namespace porch {

class FakeLlmServer {
 public:
  // `script` is the server's rule set; `dir` holds its files.
  FakeLlmServer(const std::string& dir, const nlohmann::json& script,
                std::vector<std::string> extra_args = {})
      : dir_(dir) {
    EXPECT_TRUE(WriteFileAtomic(dir + "/script.json", script.dump()).ok());
    unlink((dir + "/port").c_str());
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
      std::vector<std::string> args = {"python3",
                                       std::string(PORCH_SOURCE_DIR) + "/tests/fake_llm/fake_llm_server.py",
                                       "--script", dir + "/script.json", "--port-file",
                                       dir + "/port", "--log", RequestLog()};
      for (auto& a : extra_args) args.push_back(a);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("python3", argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500 && !PathExists(dir + "/port"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Result<std::string> port = ReadFile(dir + "/port");
    if (port.ok()) port_ = std::stoi(*port);
  }
  ~FakeLlmServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool ok() const { return port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The server appends each request to this file, one JSON line, as it
  // comes (before it answers): a command in a test may wait on it.
  std::string RequestLog() const { return dir_ + "/requests.jsonl"; }

  // Every request so far: {method, path, headers, body (parsed when JSON)}.
  std::vector<nlohmann::json> Requests() const {
    std::vector<nlohmann::json> out;
    Result<std::string> text = ReadFile(RequestLog());
    if (!text.ok()) return out;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
      if (e.is_discarded()) continue;
      nlohmann::json body = nlohmann::json::parse(e["body"].get<std::string>(), nullptr, false);
      if (!body.is_discarded()) e["body"] = body;
      out.push_back(e);
    }
    return out;
  }
  std::vector<nlohmann::json> Posts() const {
    std::vector<nlohmann::json> out;
    for (auto& r : Requests()) {
      if (r["method"] == "POST") out.push_back(r);
    }
    return out;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A script for porch's API agent: a request whose last user turn holds
// `marker` is answered with one write_file of `path`, the tool result with
// "Done." (the agent's end).
inline nlohmann::json AgentWritesFile(const std::string& marker, const std::string& path,
                                      const std::string& content) {
  nlohmann::json write = {{"tool_use", {{"name", "write_file"}, {"input", {{"path", path}, {"content", content}}}}}};
  return {{"rules", {{{"match", "wrote "}, {"responses", {{{"text", "Done."}}}}},
                     {{"match", marker}, {"responses", {write}}}}}};
}

}  // namespace porch
