#include "backend/slurm/slurm_state.h"

#include <cstdlib>


namespace porch {

namespace {

struct StateName {
  SlurmState state;
  const char* name;
  const char* code;
};

constexpr StateName kStates[] = {
    {SlurmState::kPending, "PENDING", "PD"},
    {SlurmState::kConfiguring, "CONFIGURING", "CF"},
    {SlurmState::kRunning, "RUNNING", "R"},
    {SlurmState::kCompleting, "COMPLETING", "CG"},
    {SlurmState::kSuspended, "SUSPENDED", "S"},
    {SlurmState::kStopped, "STOPPED", "ST"},
    {SlurmState::kRequeued, "REQUEUED", "RQ"},
    {SlurmState::kRequeueHold, "REQUEUE_HOLD", "RH"},
    {SlurmState::kRequeueFed, "REQUEUE_FED", "RF"},
    {SlurmState::kResizing, "RESIZING", "RS"},
    {SlurmState::kSignaling, "SIGNALING", "SI"},
    {SlurmState::kStageOut, "STAGE_OUT", "SO"},
    {SlurmState::kResvDelHold, "RESV_DEL_HOLD", "RD"},
    {SlurmState::kCompleted, "COMPLETED", "CD"},
    {SlurmState::kFailed, "FAILED", "F"},
    {SlurmState::kCancelled, "CANCELLED", "CA"},
    {SlurmState::kTimeout, "TIMEOUT", "TO"},
    {SlurmState::kOutOfMemory, "OUT_OF_MEMORY", "OOM"},
    {SlurmState::kNodeFail, "NODE_FAIL", "NF"},
    {SlurmState::kPreempted, "PREEMPTED", "PR"},
    {SlurmState::kBootFail, "BOOT_FAIL", "BF"},
    {SlurmState::kDeadline, "DEADLINE", "DL"},
    {SlurmState::kRevoked, "REVOKED", "RV"},
    {SlurmState::kSpecialExit, "SPECIAL_EXIT", "SE"},
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> Lines(const std::string& text) {
  std::vector<std::string_view> out;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = Trim(rest.substr(0, nl));
    if (!line.empty()) out.push_back(line);
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return out;
}

// Splits on '|' into exactly `n` fields, the name (field 1) taking any extra
// bars, so a job name containing '|' still parses.
bool SplitFields(std::string_view line, size_t n, std::vector<std::string_view>* out) {
  out->clear();
  size_t first = line.find('|');
  if (first == std::string_view::npos) return false;
  out->push_back(line.substr(0, first));
  std::vector<std::string_view> tail;
  std::string_view rest = line.substr(first + 1);
  for (size_t k = 0; k + 2 < n; ++k) {
    size_t bar = rest.rfind('|');
    if (bar == std::string_view::npos) return false;
    tail.insert(tail.begin(), rest.substr(bar + 1));
    rest = rest.substr(0, bar);
  }
  out->push_back(rest);
  for (std::string_view t : tail) out->push_back(t);
  return out->size() == n;
}

}  // namespace

SlurmState ParseSlurmState(std::string_view text) {
  text = Trim(text);
  // sacct: "CANCELLED by 1000"; squeue sometimes appends '+' (requeued).
  size_t space = text.find(' ');
  if (space != std::string_view::npos) text = text.substr(0, space);
  while (!text.empty() && text.back() == '+') text.remove_suffix(1);
  for (const StateName& s : kStates) {
    if (text == s.name || text == s.code) return s.state;
  }
  return SlurmState::kUnknown;
}

const char* SlurmStateName(SlurmState s) {
  for (const StateName& n : kStates) {
    if (n.state == s) return n.name;
  }
  return "UNKNOWN";
}

bool IsTerminal(SlurmState s) {
  switch (s) {
    case SlurmState::kCompleted:
    case SlurmState::kFailed:
    case SlurmState::kCancelled:
    case SlurmState::kTimeout:
    case SlurmState::kOutOfMemory:
    case SlurmState::kNodeFail:
    case SlurmState::kPreempted:
    case SlurmState::kBootFail:
    case SlurmState::kDeadline:
    case SlurmState::kRevoked:
    case SlurmState::kSpecialExit:
      return true;
    default:
      return false;
  }
}

bool HasStarted(SlurmState s) {
  switch (s) {
    case SlurmState::kRunning:
    case SlurmState::kCompleting:
    case SlurmState::kSuspended:
    case SlurmState::kStopped:
    case SlurmState::kSignaling:
    case SlurmState::kStageOut:
      return true;
    default:
      return IsTerminal(s) && s != SlurmState::kBootFail && s != SlurmState::kRevoked;
  }
}

SlurmVerdict VerdictFromState(SlurmState s, int exit_code, bool cancelled_by_porch) {
  const std::string code = exit_code >= 0 ? " (exit " + std::to_string(exit_code) + ")" : "";
  switch (s) {
    case SlurmState::kCompleted:
      return {FailureReason::kBackendError,
              "SLURM says the job completed, but it left no result file: was porch exec-task "
              "run? (see slurm.out / slurm.err in the attempt directory)"};
    case SlurmState::kFailed:
      return {FailureReason::kBackendError,
              "the job failed" + code +
                  " before porch exec-task wrote a result: check slurm.porch_path and the job's "
                  "slurm.err"};
    case SlurmState::kSpecialExit:
      return {FailureReason::kExitCode, "the job ended with a special exit code" + code};
    case SlurmState::kCancelled:
      if (cancelled_by_porch) return {FailureReason::kCancelled, "cancelled by porch (scancel)"};
      return {FailureReason::kCancelled,
              "the job was cancelled outside porch (scancel by a user or an administrator)"};
    case SlurmState::kTimeout:
      return {FailureReason::kTimeout, "SLURM stopped the job at its time limit (TIMEOUT)"};
    case SlurmState::kDeadline:
      return {FailureReason::kTimeout, "SLURM stopped the job at its deadline (DEADLINE)"};
    case SlurmState::kOutOfMemory:
      return {FailureReason::kOom, "SLURM stopped the job at its memory limit (OUT_OF_MEMORY)"};
    case SlurmState::kNodeFail:
      return {FailureReason::kLost, "the node running the job failed (NODE_FAIL)"};
    case SlurmState::kPreempted:
      return {FailureReason::kLost, "the job was preempted (PREEMPTED)"};
    case SlurmState::kBootFail:
      return {FailureReason::kLost, "the job's node failed to boot (BOOT_FAIL)"};
    case SlurmState::kRevoked:
      return {FailureReason::kLost, "the job was revoked (REVOKED)"};
    default:
      return {FailureReason::kBackendError,
              std::string("the job is in state ") + SlurmStateName(s) + ", which is not an end"};
  }
}

int ParseSlurmExitCode(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return -1;
  size_t colon = text.find(':');
  std::string code(text.substr(0, colon));
  std::string sig = colon == std::string_view::npos ? "0" : std::string(text.substr(colon + 1));
  char* end = nullptr;
  long c = std::strtol(code.c_str(), &end, 10);
  if (end == code.c_str()) return -1;
  long s = std::strtol(sig.c_str(), nullptr, 10);
  return s > 0 ? static_cast<int>(128 + s) : static_cast<int>(c);
}

std::vector<SlurmJob> ParseSqueue(const std::string& text, int* bad_lines, bool with_comment) {
  std::vector<SlurmJob> jobs;
  std::vector<std::string_view> f;
  for (std::string_view line : Lines(text)) {
    if (!SplitFields(line, with_comment ? 5 : 4, &f) || f[0].empty()) {
      if (bad_lines) ++*bad_lines;
      continue;
    }
    SlurmJob j;
    j.id = std::string(Trim(f[0]));
    j.name = std::string(f[1]);
    j.state_text = std::string(Trim(f[2]));
    j.state = ParseSlurmState(f[2]);
    j.reason = std::string(Trim(f[3]));
    if (with_comment) j.comment = std::string(Trim(f[4]));
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::vector<SlurmJob> ParseSacct(const std::string& text) {
  std::vector<SlurmJob> jobs;
  std::vector<std::string_view> f;
  for (std::string_view line : Lines(text)) {
    if (!SplitFields(line, 4, &f) || f[0].empty()) continue;
    SlurmJob j;
    j.id = std::string(Trim(f[0]));
    j.name = std::string(f[1]);
    j.state_text = std::string(Trim(f[2]));
    j.state = ParseSlurmState(f[2]);
    j.exit_code = ParseSlurmExitCode(f[3]);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::optional<SlurmJob> ParseScontrolJob(const std::string& text) {
  SlurmJob j;
  std::string array_job, array_task, job_id;
  std::string_view rest(text);
  // Values never contain spaces except in a few fields porch does not read;
  // splitting on spaces keeps every Key=Value porch needs whole.
  while (!rest.empty()) {
    size_t sp = rest.find_first_of(" \n");
    std::string_view word = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    size_t eq = word.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = word.substr(0, eq), value = word.substr(eq + 1);
    if (key == "JobId") job_id = value;
    else if (key == "ArrayJobId") array_job = value;
    else if (key == "ArrayTaskId") array_task = value;
    else if (key == "JobName") j.name = value;
    else if (key == "JobState") {
      j.state_text = value;
      j.state = ParseSlurmState(value);
    } else if (key == "Reason") j.reason = value;
    else if (key == "ExitCode") j.exit_code = ParseSlurmExitCode(value);
  }
  if (job_id.empty()) return std::nullopt;
  j.id = !array_job.empty() && !array_task.empty() ? array_job + "_" + array_task : job_id;
  return j;
}

Result<std::string> ParseSbatchParsable(const std::string& text) {
  std::vector<std::string_view> lines = Lines(text);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string_view id = it->substr(0, it->find(';'));
    bool digits = !id.empty();
    for (char c : id) digits &= c >= '0' && c <= '9';
    if (digits) return std::string(id);
  }
  return Status::Internal("sbatch printed no job id: '" + std::string(Trim(text)) + "'");
}

bool IsTransientSlurmError(std::string_view text) {
  for (const char* s : {"Socket timed out", "Unable to contact slurm controller",
                        "Connection refused", "Connection timed out",
                        "Resource temporarily unavailable", "Slurm temporarily unable",
                        "Transient", "try again", "Zero Bytes were transmitted or received",
                        "Communication connection failure"}) {
    if (text.find(s) != std::string_view::npos) return true;
  }
  return false;
}

bool IsAccountingDisabled(std::string_view text) {
  return text.find("accounting storage is disabled") != std::string_view::npos ||
         text.find("Accounting storage is disabled") != std::string_view::npos ||
         text.find("Problem talking to the database") != std::string_view::npos;
}

}  // namespace porch
