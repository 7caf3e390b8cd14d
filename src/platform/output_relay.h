// The lazy outputs' relay (SpawnSpec::lazy_output): the read ends of a
// command's stdout and stderr pipes, copied to files that are created, with
// their directory, at the first byte, and counted against the output cap.
// Used by SpawnAndWait (one command) and CommandPool (many); not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "platform/spawn.h"

namespace porch {

// How much one look at a pipe copies at most: the caller's wait loop must
// still see time limits and cancels when a command writes as fast as this
// copies.
constexpr size_t kDrainBudgetBytes = 1 << 20;

class OutputRelay {
 public:
  // `spec` (its output paths, append flag and cap) must outlive the relay.
  explicit OutputRelay(const SpawnSpec& spec) : spec_(spec) {}
  ~OutputRelay();
  OutputRelay(const OutputRelay&) = delete;
  OutputRelay& operator=(const OutputRelay&) = delete;

  // Makes the pipes (read ends non-blocking); the write ends go to the
  // child, which the caller closes once the child has them. 0 or an errno.
  int Open(int child_ends[2]);
  // The read end of stdout (0) or stderr (1); -1 once at EOF.
  int fd(int i) const { return pipe_[i]; }
  // Copies what pipe i holds now, up to `budget` bytes; closes it at EOF.
  void Drain(int i, size_t budget = kDrainBudgetBytes);
  // Output i reached the cap and was cut.
  bool cut(int i) const { return cut_[i]; }
  // Output i kept a byte: its file exists (it is made at the first byte).
  bool kept(int i) const { return kept_[i] > 0; }

 private:
  void Keep(int i, const char* data, size_t n);

  const SpawnSpec& spec_;
  int pipe_[2] = {-1, -1};
  int file_[2] = {-1, -1};
  uint64_t kept_[2] = {0, 0};
  bool cut_[2] = {false, false};
  bool failed_[2] = {false, false};
};

// Cuts `path` back to `cap` bytes when it grew past it; true if it did.
bool CapOutput(const std::string& path, uint64_t cap);
// Leaves `path` at its cap with a line saying it was cut there.
void MarkCut(const std::string& path, uint64_t cap);

}  // namespace porch
