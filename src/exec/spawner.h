// The local backend's spawner: one small process per run that starts the
// run's attempts on this machine.
//
// Why: porch's scheduler process may have threads (the dashboard's HTTP
// server), and forking a threaded process to run C++ in the child is
// unsafe; exec'ing the whole porch binary per attempt (and loading the plan
// each time) costs milliseconds. So the local backend posix_spawns
// `porch spawner` once, before its first attempt: a single-threaded process
// that loads the run (plan.json, config.json) once and, per request, forks a
// supervisor that runs the attempt exactly as `porch exec-task` does
// (RunAttempt: the command in a process group of its own, the time limit,
// the result file written atomically).
//
// Protocol over one stream socket (fd), one JSON object per line:
//   porch -> spawner  {"task": ID, "attempt": N, "limit": S, "grace": S,
//                      "adopted": A (supervisors porch re-adopted, still running)}
//   spawner -> porch  {"spawned": ID, "attempt": N, "pid": P, "ticks": T}
//                     or {"refused": ID, "attempt": N, "error": "..."}
//                     (with "stop": true when no attempt can start now,
//                     e.g. the disk is full: porch stops the run),
//                     (one per request, in request order), and
//                     {"exited": P, "status": W} when a supervisor ends
//                     (W as waitpid reports it).
// Before answering "spawned", the spawner appends the attempt's pid and
// start time to <run>/spawned.log, so a porch killed before it journaled the
// job id still finds the supervisor on resume; the supervisor starts the
// task only once that record is written (a pipe holds it back), so an
// attempt that could not be recorded never runs.
//
// Command attempts append their results to <run>/results.log (one record
// each, model/result_file.h) instead of writing result.json, and make their
// attempt directory only if they print something: a silent command leaves
// no inode of its own. Before each such supervisor starts, the spawner
// keeps room in the log for the result of every supervisor still running
// (kResultRoomBytes each: its own children and the adopted ones porch
// counts), where the filesystem can preallocate; without that room it
// refuses with "stop".
//
// Supervisors are in process groups of their own (a terminal's Ctrl-C
// reaches porch only) and outlive the spawner: when porch goes away (EOF on
// the socket) the spawner exits at once and the supervisors run on, to be
// re-adopted by `porch resume`.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace porch {

// Serves `fd` until porch closes it. Returns the process's exit code.
int ServeSpawner(const std::string& run_dir, int fd);

// Where the spawner records the attempts it started: one JSON object per
// line, {"task": ID, "attempt": N, "pid": P, "ticks": T}.
std::string SpawnedLogPath(const std::string& run_dir);

// One line of spawned.log.
struct SpawnedRecord {
  std::string task;
  int attempt = 0;
  int pid = 0;
  unsigned long long ticks = 0;
};
// spawned.log's records in order (a line cut short by a crash is skipped).
std::vector<SpawnedRecord> ReadSpawnedLog(const std::string& run_dir);

// The highest attempt number spawned.log records for each task: attempts
// of command tasks may have no directory, yet their numbers are used.
std::map<std::string, int> HighestSpawnedAttempts(const std::string& run_dir);

// Start time of process `pid` in clock ticks since boot (/proc/<pid>/stat
// field 22), or 0 if there is no such process. With the pid, it names a
// process uniquely: a recycled pid has another start time.
unsigned long long ProcessStartTicks(int pid);

}  // namespace porch
