// SLURM's job states and the text its clients print, parsed and mapped to
// porch's failure reasons. Pure: no I/O, tested against captured output.
//
// The state list follows squeue(1) "JOB STATE CODES" (long names and the
// two-letter codes). sacct prints "CANCELLED by <uid>"; that suffix is
// ignored.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/failure.h"

namespace porch {

enum class SlurmState {
  kPending,      // PD: waiting for resources or dependencies
  kConfiguring,  // CF: allocated, nodes booting
  kRunning,      // R
  kCompleting,   // CG: ended, processes being cleaned up
  kSuspended,    // S
  kStopped,      // ST: SIGSTOP'd, resources kept
  kRequeued,     // RQ: being requeued
  kRequeueHold,  // RH
  kRequeueFed,   // RF
  kResizing,     // RS
  kSignaling,    // SI
  kStageOut,     // SO
  kResvDelHold,  // RD
  kCompleted,    // CD: exit code 0 on every node
  kFailed,       // F: non-zero exit or other failure
  kCancelled,    // CA: scancel (by porch, a user or an admin)
  kTimeout,      // TO: hit its time limit
  kOutOfMemory,  // OOM: hit its memory limit
  kNodeFail,     // NF: a node it ran on failed
  kPreempted,    // PR: made way for a higher-priority job
  kBootFail,     // BF: its node could not boot
  kDeadline,     // DL: passed its --deadline
  kRevoked,      // RV: a federation sibling ran it
  kSpecialExit,  // SE: requeued held on a special exit code
  kUnknown,      // anything this build of porch does not know
};

SlurmState ParseSlurmState(std::string_view text);
const char* SlurmStateName(SlurmState s);

// Over for good: the job will not run (again) by itself.
bool IsTerminal(SlurmState s);
// Its batch script has started (porch reports the attempt as started).
bool HasStarted(SlurmState s);

// How an attempt ended, judged from SLURM's state alone (used when no result
// file exists, and to explain a result file that says "cancelled" when porch
// cancelled nothing). kLost means: run it again without charging a retry
// (node failure, preemption). `exit_code` is the job's exit status or -1.
struct SlurmVerdict {
  FailureReason reason = FailureReason::kNone;
  std::string detail;
};
SlurmVerdict VerdictFromState(SlurmState s, int exit_code, bool cancelled_by_porch);

// One job (or array element) as a client reported it. Array elements have
// ids like "123_4".
struct SlurmJob {
  std::string id;
  std::string name;
  SlurmState state = SlurmState::kUnknown;
  std::string state_text;
  std::string reason;   // squeue's %r (why pending), sacct's Reason
  std::string comment;  // squeue's %k (porch puts the run's uid there)
  int exit_code = -1;   // sacct / scontrol "ExitCode=N:S" -> N, or 128+S; -1 unknown
};

// `squeue -h -r -t all -o '%i|%j|%T|%r'` output (with `with_comment`,
// '%i|%j|%T|%r|%k'). Lines that do not parse are skipped (reported in
// `bad_lines` when given).
std::vector<SlurmJob> ParseSqueue(const std::string& text, int* bad_lines = nullptr,
                                  bool with_comment = false);
// `sacct -n -P -X -o JobID,JobName,State,ExitCode` output.
std::vector<SlurmJob> ParseSacct(const std::string& text);
// `scontrol show job -o ID` output (one line of Key=Value words).
std::optional<SlurmJob> ParseScontrolJob(const std::string& text);
// `sbatch --parsable` output: "123" or "123;cluster".
Result<std::string> ParseSbatchParsable(const std::string& text);
// "N:S" as sacct and scontrol print ExitCode: N, or 128+S when S is set.
int ParseSlurmExitCode(std::string_view text);

// Whether a client's error says the controller is busy or unreachable for
// now (retry later) rather than that the request is wrong.
bool IsTransientSlurmError(std::string_view text);
// Whether a client's error says accounting is not configured (no sacct).
bool IsAccountingDisabled(std::string_view text);

}  // namespace porch
