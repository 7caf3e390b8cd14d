// Running one task attempt where it is placed.
//
// RunAttempt is the body of `porch exec-task` (on a node, in a container) and
// of the local backend's supervisor process. It starts the task's command in
// a process group of its own, enforces the time limit (SIGTERM to the group,
// SIGKILL after the grace period), turns SIGTERM/SIGINT/SIGHUP to itself into
// a cancellation, and writes the result file (model/result_file.h)
// atomically (temp, fsync, rename) as its last act. Executors never touch
// shared run state: the result file is their only output besides
// stdout/stderr and the files the task makes.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "exec/attempt_spec.h"
#include "model/result_file.h"
#include "platform/spawn.h"

namespace porch {

// Exit codes of `porch exec-task` (documented in the README):
constexpr int kExecOk = 0;           // the task succeeded
constexpr int kExecTaskFailed = 1;   // the task failed; result.json says why
constexpr int kExecUsage = 2;        // bad arguments or unreadable spec
constexpr int kExecNoResult = 3;     // could not write result.json
constexpr int kExecNotStarted = 4;   // could not prepare (no room for the result): nothing ran

// Room for the result, taken before the task runs: a task that ran to its
// end while the disk filled must still leave its result, or resume would
// run it a second time. (In the results log, the spawner keeps this much
// per running supervisor.)
constexpr uint64_t kResultRoomBytes = 16 * 1024;

// Runs the attempt to its end and writes the result file. Blocks. Changes the
// calling thread's signal mask; meant for a process of its own.
// Returns one of the kExec* codes.
int RunAttempt(const AttemptSpec& spec);

// RunAttempt's steps for a command attempt, for a caller that waits for
// many commands itself (the local spawner, exec/spawner.h) instead of one
// process per attempt:
// What runs: the command (a plain one exec'd directly, as GNU make does;
// else /bin/sh -c), in spec.workdir, with `env` (this process's environment)
// plus the task's PORCH_* settings and without porch's credentials.
SpawnSpec CommandSpawnSpec(const AttemptSpec& spec, const std::map<std::string, std::string>& env);
// The attempt's result from how the command (`program`, its argv[0]) ended,
// with the declared-outputs check; may add a line to the attempt's stderr.
AttemptResult CommandAttemptResult(const AttemptSpec& spec, const std::string& program,
                                   const SpawnOutcome& outcome, double started_at);
// Appends `r` to spec.result_log_fd as one record (its lists cut if it
// would not fit the room kept). Returns the kExec* code RunAttempt would.
int RecordResult(const AttemptSpec& spec, AttemptResult r);

}  // namespace porch
