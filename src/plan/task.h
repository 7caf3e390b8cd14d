// The plan: what porch runs. Pure data, no I/O.
//
// A Plan is a list of Tasks in file order. Tasks name their dependencies by
// id; plan/dag.h turns the names into indices once the plan is validated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace porch {

// What a task may use. Zero means "not set: use the backend's default".
struct Resources {
  int cpus = 0;
  uint64_t memory_bytes = 0;
  int gpus = 0;
  double time_limit_s = 0;  // 0: no limit beyond the run's default
};

struct Task {
  std::string id;
  std::string title;
  // Exactly one of these is set (validation checks it). A prompt is an AI
  // task, executed by an agent; a command runs with /bin/sh -c.
  std::string prompt;
  std::string command;
  std::vector<std::string> depends_on;
  Resources resources;
  std::optional<int> retries;         // overrides retry.max_retries
  std::vector<std::string> outputs;   // relative paths the task must produce
  // The plan said `outputs` (perhaps `[]`): an AI task that declares
  // nothing must still change some file; one with `outputs: []` need not.
  bool outputs_declared = false;
  std::string acceptance;             // optional check command (agents)
  int line = 0;                       // where the task starts in its file; 0: unknown

  bool is_command() const { return !command.empty(); }
  // Done by an AI agent: it spends the run's budget and its work is merged.
  bool is_agent() const { return !prompt.empty(); }
};

struct Plan {
  std::string name;
  std::string requirements;  // the requirement the plan was made from, if any
  std::vector<Task> tasks;
  std::string source;        // file the plan came from, for messages
};

}  // namespace porch
