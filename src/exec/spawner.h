// The local backend's spawner: one small process per run that starts the
// run's attempts on this machine.
//
// Why: porch's scheduler process may have threads (the dashboard's HTTP
// server), and forking a threaded process to run C++ in the child is
// unsafe; exec'ing the whole porch binary per attempt (and loading the plan
// each time) costs milliseconds. So the local backend posix_spawns
// `porch spawner` once, before its first attempt: a single-threaded process
// that loads the run (plan.json, config.json) once and starts the run's
// attempts, two ways:
//  - command attempts (those whose result goes to results.log: a command
//    task run in output/) it runs itself, as a keeper: it posix_spawns the
//    command in a process group of its own and watches all of them from one
//    event loop (platform/command_pool.h: output relayed to files made at the
//    first byte, time limits, cancels, what a command leaves behind killed),
//    then appends each result to <run>/results.log. No process per attempt
//    but the command's own: a command attempt costs what it costs under
//    Ninja, one vfork and exec;
//  - other attempts (AI tasks, isolated commands, commands that name
//    PORCH_ATTEMPT_DIR) get a forked supervisor each, which runs the attempt
//    exactly as `porch exec-task` does (RunAttempt) and writes its result.
//
// Protocol over one stream socket (fd), one JSON object per line:
//   porch -> spawner  {"task": ID, "attempt": N, "limit": S, "grace": S,
//                      "adopted": A (attempts porch re-adopted, still running),
//                      "slots": M (at most M attempts at once, the adopted
//                      ones included; absent or 0: no bound),
//                      "priority": R (Launch::priority: of the attempts
//                      held for a slot, the largest R starts first, the
//                      earlier request among equals)}
//                     {"adopted": A} alone when that count changes (their
//                     slots free up)
//                     {"cancel": true, "task": ID, "attempt": N}
//   spawner -> porch  one answer per request, in request order:
//                     {"spawned": ID, "attempt": N, "pid": P, "ticks": T}
//                     (with "keeper": K, "keeper_ticks": KT when the spawner
//                     K keeps the command P itself; P is below 0 for a
//                     command that could not start, whose result is already
//                     written), or
//                     {"queued": ID, "attempt": N, "keeper": K, "keeper_ticks": KT}
//                     when no slot is free (or others are held): it starts
//                     when one is and no larger R waits, and then
//                     {"started": ID, "attempt": N, "pid": P, "ticks": T, ...}
//                     follows, or
//                     {"refused": ID, "attempt": N, "error": "..."}
//                     (with "stop": true when no attempt can start now,
//                     e.g. the disk is full: porch stops the run);
//                     and {"exited": P, "status": W, "task": ID, "attempt": N}
//                     when an attempt ends (W as waitpid reports a
//                     supervisor's end: exit kExecOk, kExecTaskFailed or
//                     kExecNoResult once the result is written; a queued
//                     attempt cancelled or dropped ends with its result
//                     written and P below 0).
//   Answers go at the end of the loop's turn that made them, with whatever
//   else the turn said, in one send (what the socket does not take then
//   goes as porch reads). "started" and "exited" alone may wait while the
//   spawner holds attempts, at most kEventDelaySeconds (5 ms):
//   the held ones keep the slots busy meanwhile, and porch wakes once per
//   few short commands rather than per command.
// A kept command of a spawner porch no longer has a socket to (an earlier
// porch's) is cancelled by sigqueue(K, SpawnerCancelSignal(), P).
//
// spawned.log: when it takes an attempt (before it answers), the spawner
// appends it with its own pid and start time as keeper; once a command
// runs, again with the command's. A supervisor's record (its pid and start
// time) is appended before it starts the task (a pipe holds it back). So a porch killed
// before it journaled the job id still finds the attempt on resume, and an
// attempt that could not be recorded never runs.
//
// Results: before it takes each attempt that appends to results.log, the
// spawner keeps room in the log for the result of every attempt that may
// still append one (kResultRoomBytes each: those it runs or holds, and the
// adopted ones porch counts), where the filesystem can preallocate;
// without that room it refuses with "stop".
//
// Lifetime: the spawner leaves porch's process tree when it starts (porch
// never waits for it). When porch goes away (EOF on the socket), it takes
// no more requests, records the queued attempts as lost (never started),
// keeps the commands it runs until they end, writes their results and
// exits; supervisors, in process groups of their own, run on.
// `porch resume` re-adopts both. SIGTERM, SIGINT or SIGHUP to the spawner
// cancel the commands it keeps.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace porch {

// Serves `fd` until porch closes it. Returns the process's exit code.
int ServeSpawner(const std::string& run_dir, int fd);

// Where the spawner records the attempts it started: one JSON object per
// line, {"task": ID, "attempt": N, "pid": P, "ticks": T} (with "keeper": K,
// "keeper_ticks": KT for a kept command; without "pid" before it starts).
std::string SpawnedLogPath(const std::string& run_dir);

// One line of spawned.log.
struct SpawnedRecord {
  std::string task;
  int attempt = 0;
  int pid = 0;
  unsigned long long ticks = 0;
  int keeper = 0;  // the spawner that keeps the command; 0: a supervisor's record
  unsigned long long keeper_ticks = 0;
};
// spawned.log's records in order (a line cut short by a crash is skipped).
std::vector<SpawnedRecord> ReadSpawnedLog(const std::string& run_dir);

// The highest attempt number spawned.log records for each task: attempts
// of command tasks may have no directory, yet their numbers are used.
std::map<std::string, int> HighestSpawnedAttempts(const std::string& run_dir);

// The signal that cancels a kept command (its pid as the signal's value).
int SpawnerCancelSignal();

// Start time of process `pid` in clock ticks since boot (/proc/<pid>/stat
// field 22), or 0 if there is no such process. With the pid, it names a
// process uniquely: a recycled pid has another start time.
unsigned long long ProcessStartTicks(int pid);
// Process `pid` started at `ticks` still runs: not gone, not recycled, not
// a zombie.
bool ProcessRuns(int pid, unsigned long long ticks);

}  // namespace porch
