// Runs the real porch binary for integration tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "platform/files.h"

namespace porch {

struct PorchRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  long max_rss_kb = 0;   // the process's peak resident memory
  double wall_s = 0;     // from start to exit
  bool timed_out = false;
};

// A porch process started in `cwd` with `args`; stdout/stderr go to files.
class PorchProcess {
 public:
  PorchProcess(const std::string& cwd, std::vector<std::string> args,
               std::map<std::string, std::string> env = {})
      : out_path_(cwd + "/.porch-out-" + std::to_string(counter_++)),
        err_path_(out_path_ + ".err") {
    clock_gettime(CLOCK_MONOTONIC, &start_);
    pid_ = fork();
    if (pid_ == 0) {
      if (chdir(cwd.c_str()) != 0) _exit(120);
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int in = open("/dev/null", O_RDONLY);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      // A clean signal state, as from a shell.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      std::vector<char*> argv;
      std::string bin = PORCH_BINARY;
      argv.push_back(bin.data());
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~PorchProcess() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  // What the process wrote to stderr so far.
  std::string ErrSoFar() const {
    Result<std::string> text = ReadFile(err_path_);
    return text.ok() ? *text : "";
  }
  void Signal(int sig) { kill(pid_, sig); }

  // Waits for the exit; with `timeout_s` > 0, kills the process (SIGKILL)
  // once that has passed (`timed_out` says so).
  PorchRun Wait(double timeout_s = 0) {
    int status = 0;
    struct rusage usage {};
    bool timed_out = false;
    if (timeout_s > 0) {
      for (int ms = 0; wait4(pid_, &status, WNOHANG, &usage) == 0; ms += 10) {
        if (ms >= timeout_s * 1000) {
          kill(pid_, SIGKILL);
          timed_out = true;
          wait4(pid_, &status, 0, &usage);
          break;
        }
        usleep(10 * 1000);
      }
    } else {
      wait4(pid_, &status, 0, &usage);
    }
    waited_ = true;
    PorchRun r;
    timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    r.wall_s = static_cast<double>(end.tv_sec - start_.tv_sec) +
               static_cast<double>(end.tv_nsec - start_.tv_nsec) / 1e9;
    r.max_rss_kb = usage.ru_maxrss;
    r.timed_out = timed_out;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFile(out_path_).ok() ? *ReadFile(out_path_) : "";
    r.err = ReadFile(err_path_).ok() ? *ReadFile(err_path_) : "";
    unlink(out_path_.c_str());
    unlink(err_path_.c_str());
    return r;
  }

 private:
  static inline int counter_ = 0;
  pid_t pid_ = -1;
  bool waited_ = false;
  timespec start_{};
  std::string out_path_, err_path_;
};

inline PorchRun RunPorch(const std::string& cwd, std::vector<std::string> args,
                         std::map<std::string, std::string> env = {}) {
  PorchProcess p(cwd, std::move(args), std::move(env));
  return p.Wait();
}

}  // namespace porch
