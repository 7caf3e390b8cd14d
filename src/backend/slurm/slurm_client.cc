#include "backend/slurm/slurm_client.h"

#include <algorithm>
#include <functional>

namespace porch {

namespace {

std::string Describe(const std::vector<std::string>& argv, const CommandOutput& out) {
  std::string msg = argv[0].substr(argv[0].find_last_of('/') + 1);
  if (out.timed_out) return msg + " did not answer in time";
  std::string text = out.err.empty() ? out.out : out.err;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return msg + " failed (exit " + std::to_string(out.exit_code) + ")" +
         (text.empty() ? "" : ": " + text);
}

bool Transient(const CommandOutput& out) {
  return out.timed_out || IsTransientSlurmError(out.err) || IsTransientSlurmError(out.out);
}

}  // namespace

SlurmClient::SlurmClient(CommandRunner* runner, Clock* clock, SlurmClientOptions options)
    : runner_(runner), clock_(clock), options_(std::move(options)) {}

std::string SlurmClient::Bin(const char* name) const {
  return options_.bin_dir.empty() ? name : options_.bin_dir + "/" + name;
}

Result<CommandOutput> SlurmClient::Call(std::vector<std::string> argv, int* counter,
                                        bool (*accept_failure)(const CommandOutput&),
                                        const std::function<bool()>& before_retry) {
  using Try = TryResult<CommandOutput>;
  RetryBudget budget;
  budget.max_attempts = options_.max_attempts;
  budget.backoff = {options_.retry_base_s, /*multiplier=*/2, options_.retry_max_s, /*jitter=*/0};
  RetryStats stats;
  Result<CommandOutput> r = RetryWithBackoff<CommandOutput>(
      *clock_, nullptr, budget, "the SLURM controller did not answer",
      [&](int attempt) -> Try {
        if (attempt > 1 && before_retry && before_retry()) return Try::Done(CommandOutput{});
        ++*counter;
        Result<CommandOutput> out = runner_->Run(argv, options_.timeout_s);
        if (!out.ok()) {
          return Try::Fail(out.status().Annotate(
              "cannot run the SLURM client (is slurm-client installed and on PATH, or "
              "slurm.bin_dir set?)"));
        }
        if (out->exit_code == 0 && !out->timed_out) return Try::Done(std::move(*out));
        if (accept_failure && !out->timed_out && accept_failure(*out)) {
          return Try::Done(std::move(*out));
        }
        std::string what = Describe(argv, *out);
        if (!Transient(*out)) return Try::Fail(Status::Internal(what));
        return Try::Again(Status::Unavailable(what));
      },
      &stats);
  calls_.retries += stats.retries;
  return r;
}

Result<std::string> SlurmClient::Submit(const std::string& script_path,
                                        const std::string& job_name) {
  // A timed-out sbatch may have queued the job before it failed to answer:
  // look for it by its (unique) name before submitting again.
  std::string found;
  auto already_queued = [&] {
    ++calls_.squeue;
    Result<CommandOutput> q = runner_->Run(
        {Bin("squeue"), "-h", "-r", "-t", "all", "--name=" + job_name, "-o", "%i|%j|%T|%r"},
        options_.timeout_s);
    if (!q.ok() || q->exit_code != 0 || q->timed_out) return false;
    std::vector<SlurmJob> jobs = ParseSqueue(q->out);
    if (jobs.empty()) return false;
    found = jobs.front().id.substr(0, jobs.front().id.find('_'));
    return true;
  };
  Result<CommandOutput> out =
      Call({Bin("sbatch"), "--parsable", script_path}, &calls_.sbatch, nullptr, already_queued);
  if (!out.ok()) return out.status().Annotate("sbatch " + script_path);
  if (!found.empty()) return found;
  return ParseSbatchParsable(out->out);
}

Result<std::vector<SlurmJob>> SlurmClient::Queue(const std::string& user,
                                                 const std::string& comment) {
  std::vector<std::string> argv = {Bin("squeue"), "-h", "-r", "-t", "all", "-o", "%i|%j|%T|%r|%k"};
  if (!user.empty()) argv.push_back("--user=" + user);
  Result<CommandOutput> out = Call(argv, &calls_.squeue);
  if (!out.ok()) return out.status();
  std::vector<SlurmJob> all = ParseSqueue(out->out, nullptr, /*with_comment=*/true);
  std::vector<SlurmJob> mine;
  for (SlurmJob& j : all) {
    if (j.comment == comment) mine.push_back(std::move(j));
  }
  return mine;
}

Result<std::vector<SlurmJob>> SlurmClient::Accounting(const std::vector<std::string>& ids) {
  if (accounting_ == Tri::kNo) return Status::Infeasible("the cluster keeps no accounting");
  if (ids.empty()) return std::vector<SlurmJob>{};
  std::string list;
  for (const std::string& id : ids) list += (list.empty() ? "" : ",") + id;
  Result<CommandOutput> out =
      Call({Bin("sacct"), "-n", "-P", "-X", "-o", "JobID,JobName,State,ExitCode", "-j", list},
           &calls_.sacct, [](const CommandOutput& o) {
             return IsAccountingDisabled(o.err) || IsAccountingDisabled(o.out);
           });
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) {
    accounting_ = Tri::kNo;
    return Status::Infeasible("the cluster keeps no accounting (sacct: " + out->err + ")");
  }
  accounting_ = Tri::kYes;
  return ParseSacct(out->out);
}

Result<std::optional<SlurmJob>> SlurmClient::Show(const std::string& id) {
  Result<CommandOutput> out =
      Call({Bin("scontrol"), "show", "job", "-o", id}, &calls_.scontrol, [](const CommandOutput& o) {
        return o.err.find("Invalid job id") != std::string::npos;
      });
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) return std::optional<SlurmJob>();
  return ParseScontrolJob(out->out);
}

Status SlurmClient::Cancel(const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::Ok();
  std::vector<std::string> argv = {Bin("scancel")};
  argv.insert(argv.end(), ids.begin(), ids.end());
  Result<CommandOutput> out = Call(argv, &calls_.scancel, [](const CommandOutput& o) {
    return o.err.find("Invalid job id") != std::string::npos ||
           o.err.find("already completing or completed") != std::string::npos;
  });
  return out.status();
}

Status SlurmClient::Ping() {
  Result<CommandOutput> out = Call({Bin("scontrol"), "ping"}, &calls_.scontrol);
  if (!out.ok()) return out.status();
  if (out->out.find("is UP") == std::string::npos) {
    return Status::Unavailable("no SLURM controller is up: " + out->out);
  }
  return Status::Ok();
}

}  // namespace porch
