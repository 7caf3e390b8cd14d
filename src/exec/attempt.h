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

#include "exec/attempt_spec.h"
#include "model/result_file.h"

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

}  // namespace porch
