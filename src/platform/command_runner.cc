#include "platform/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "platform/clock.h"
#include "platform/spawn.h"

namespace porch {

Result<CommandOutput> RealCommandRunner::Run(const std::vector<std::string>& argv,
                                             double timeout_s) {
  if (argv.empty()) return Status::InvalidArgument("no program to run");
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return Status::FromErrno("pipe", e);
  }
  SpawnRequest req;
  req.argv = argv;
  req.out.fd = out_pipe[1];
  req.err.fd = err_pipe[1];
  if (!env_.empty()) req.env = &env_;
  pid_t pid = 0;
  int err = Spawn(req, &pid);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (err != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return Status::FromErrno("cannot run '" + argv[0] + "'", err);
  }
  CommandOutput r;
  double deadline = MonotonicSeconds() + (timeout_s > 0 ? timeout_s : 1e9);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    double left = deadline - MonotonicSeconds();
    if (left <= 0) {
      kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left * 1000) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(fds[k].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[k]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace porch
