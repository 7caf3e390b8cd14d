#include "platform/output_relay.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "platform/files.h"

namespace porch {

OutputRelay::~OutputRelay() {
  for (int i = 0; i < 2; ++i) {
    if (pipe_[i] >= 0) close(pipe_[i]);
    if (file_[i] >= 0) close(file_[i]);
  }
}

int OutputRelay::Open(int child_ends[2]) {
  for (int i = 0; i < 2; ++i) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return errno;
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    pipe_[i] = p[0];
    child_ends[i] = p[1];
  }
  return 0;
}

void OutputRelay::Drain(int i, size_t budget) {
  char buf[1 << 16];
  for (size_t read_so_far = 0; pipe_[i] >= 0 && read_so_far < budget;) {
    ssize_t n = read(pipe_[i], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: nothing more now
    if (n == 0) {
      close(pipe_[i]);
      pipe_[i] = -1;
      return;
    }
    read_so_far += static_cast<size_t>(n);
    Keep(i, buf, static_cast<size_t>(n));
  }
}

void OutputRelay::Keep(int i, const char* data, size_t n) {
  const uint64_t cap = spec_.max_output_bytes;
  if (cap > 0 && kept_[i] + n > cap) {
    cut_[i] = true;
    n = static_cast<size_t>(cap - std::min<uint64_t>(cap, kept_[i]));
  }
  if (n == 0) return;
  if (file_[i] < 0 && !failed_[i]) {
    const std::string& path = i == 0 ? spec_.stdout_path : spec_.stderr_path;
    size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) MakeDirs(path.substr(0, slash)).IgnoreError();
    file_[i] = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (spec_.append ? 0 : O_TRUNC),
                    0644);
    // When stdout and stderr are one file, they share it from here on.
    if (file_[i] >= 0 && spec_.stdout_path == spec_.stderr_path && file_[1 - i] < 0) {
      file_[1 - i] = fcntl(file_[i], F_DUPFD_CLOEXEC, 0);
    }
    failed_[i] = file_[i] < 0;
  }
  if (file_[i] >= 0) WriteAll(file_[i], std::string_view(data, n), "output").IgnoreError();
  kept_[i] += n;
}

bool CapOutput(const std::string& path, uint64_t cap) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= cap) return false;
  return truncate(path.c_str(), static_cast<off_t>(cap)) == 0;
}

void MarkCut(const std::string& path, uint64_t cap) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) < cap) return;
  if (truncate(path.c_str(), static_cast<off_t>(cap)) != 0) return;
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;
  std::string marker = "\n[porch: output cut at " + std::to_string(cap) +
                       " bytes (limits.max_output_bytes)]\n";
  WriteAll(fd, marker, path).IgnoreError();
  close(fd);
}

}  // namespace porch
