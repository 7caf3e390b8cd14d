// A real redis-server for one test: on 127.0.0.1 and a free port, its data
// (AOF on, fsync always) in the test's own directory, stopped by the
// destructor. Restart() stops it (SIGTERM: it writes its AOF) and starts it
// again on the same port and data. The binary: $PORCH_REDIS_SERVER, else
// redis-server in PATH (scripts/install-redis.sh installs it).
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "platform/files.h"
#include "platform/process.h"
#include "queue/redis_client.h"

namespace porch {

class RedisServer {
 public:
  // `dir` must exist; `password` empty: none.
  explicit RedisServer(std::string dir, std::string password = "")
      : dir_(std::move(dir)), password_(std::move(password)) {}
  ~RedisServer() { Stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // The binary, or "" when there is none (the test skips, or fails in CI).
  static std::string Binary() {
    const char* env = getenv("PORCH_REDIS_SERVER");
    if (env != nullptr && *env != '\0') return access(env, X_OK) == 0 ? env : "";
    for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
      if (access(p, X_OK) == 0) return p;
    }
    return "";
  }

  // Starts it and waits until it answers PING; false (with `error()`) when it did not.
  bool Start() {
    if (port_ == 0) port_ = FreePort();
    std::vector<std::string> argv = {Binary(), "--bind", "127.0.0.1", "--port", std::to_string(port_),
                                     "--protected-mode", "yes", "--daemonize", "yes",
                                     "--pidfile", dir_ + "/redis.pid", "--dir", dir_,
                                     "--logfile", dir_ + "/redis.log", "--save", "",
                                     "--appendonly", "yes", "--appendfsync", "always"};
    if (!password_.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(password_);
    }
    Result<ProcessResult> r = RunProcess(argv, dir_);
    if (!r.ok() || r->exit_code != 0) {
      error_ = "redis-server did not start: " + (r.ok() ? r->output : r.status().message());
      return false;
    }
    RedisAddress a;
    a.port = port_;
    a.password = password_;
    for (int i = 0; i < 250; ++i) {
      HiredisClient c(a, 1);
      if (c.Connect().ok()) return true;
      usleep(20 * 1000);
    }
    error_ = "redis-server did not answer on port " + std::to_string(port_) + "; see " + dir_ + "/redis.log";
    return false;
  }

  // SIGTERM and wait for the process to end (it writes its AOF first).
  void Stop() {
    Result<std::string> pid_text = ReadFile(dir_ + "/redis.pid");
    if (!pid_text.ok()) return;
    const pid_t pid = static_cast<pid_t>(std::atoi(pid_text->c_str()));
    if (pid <= 1) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 500 && kill(pid, 0) == 0; ++i) usleep(10 * 1000);
    if (kill(pid, 0) == 0) kill(pid, SIGKILL);
    unlink((dir_ + "/redis.pid").c_str());
  }

  bool Restart() {
    Stop();
    return Start();
  }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  const std::string& error() const { return error_; }

  // A client for the test's own looks at the server.
  std::unique_ptr<HiredisClient> Client() const {
    RedisAddress a;
    a.port = port_;
    a.password = password_;
    auto c = std::make_unique<HiredisClient>(a, 5);
    c->Connect().IgnoreError();
    return c;
  }

 private:
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
  }

  std::string dir_;
  std::string password_;
  int port_ = 0;
  std::string error_;
};

}  // namespace porch
