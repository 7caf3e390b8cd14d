#include "platform/process.h"

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "platform/spawn.h"

namespace porch {

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, const std::string& cwd,
                                 const std::vector<std::pair<std::string, std::string>>& env) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
  std::vector<std::string> envs = EnvironmentWith(env);
  SpawnRequest req;
  req.argv = argv;
  req.env = &envs;
  req.cwd = cwd;
  req.out.fd = pipefd[1];
  req.err.fd = pipefd[1];
  pid_t pid = 0;
  int err = Spawn(req, &pid);
  close(pipefd[1]);
  if (err != 0) {
    close(pipefd[0]);
    return Status::FromErrno("cannot run '" + (argv.empty() ? std::string() : argv[0]) + "'", err);
  }
  ProcessResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    r.output.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string UserName(uid_t uid) {
  passwd entry;
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &entry, buf.data(), buf.size(), &found) != 0 || found == nullptr) return "";
  return entry.pw_name;
}

}  // namespace porch
