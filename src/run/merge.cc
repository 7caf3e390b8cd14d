#include "run/merge.h"

#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

#include "core/digest.h"
#include "model/json_fields.h"
#include "model/result_file.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/process.h"
#include "platform/tree.h"

namespace porch {

using nlohmann::json;

namespace {

// Larger files, and files with a NUL byte, are not merged three ways: two
// changes to one of them are a conflict.
constexpr size_t kMaxMergeBytes = 1 << 20;
// How much of the conflict-marked text the next attempt is shown.
constexpr size_t kMaxConflictTextBytes = 16 * 1024;

std::map<std::string, std::string> ReadStringMap(const std::string& path) {
  std::map<std::string, std::string> out;
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return out;
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

bool Mergeable(const std::string& text) {
  return text.size() <= kMaxMergeBytes && text.find('\0') == std::string::npos;
}

// Three-way merge of one text file: `git merge-file` semantics, in a
// directory of porch's own (mkdtemp, outside the run directory, which agents
// can write to). Returns the merged text with `*clean` set, or the text with
// conflict markers with `*clean` false; an error when git could not run.
Result<std::string> MergeText(const std::string& ours, const std::string& base,
                              const std::string& theirs, const std::string& other, bool* clean) {
  const char* tmp = getenv("TMPDIR");
  std::string scratch = std::string(tmp && *tmp ? tmp : "/tmp") + "/porch-merge-XXXXXX";
  if (!mkdtemp(scratch.data())) return Status::FromErrno("cannot make a directory to merge in", errno);
  Status st = WriteFileFast(scratch + "/ours", ours);
  if (st.ok()) st = WriteFileFast(scratch + "/base", base);
  if (st.ok()) st = WriteFileFast(scratch + "/theirs", theirs);
  Result<std::string> out = Status::Internal("git merge-file did not run");
  if (!st.ok()) {
    out = st;
  } else {
    Result<ProcessResult> r = RunProcess({"git", "merge-file", "-q", "-L", "this task", "-L", "base",
                                          "-L", other, "ours", "base", "theirs"},
                                         scratch, {{"GIT_CONFIG_NOSYSTEM", "1"}});
    if (!r.ok()) {
      out = r.status().Annotate("git merge-file");
    } else if (r->exit_code < 0 || r->exit_code > 127) {
      out = Status::IoError("git merge-file failed: " + r->output.substr(0, 300));
    } else {
      *clean = r->exit_code == 0;
      out = ReadFile(scratch + "/ours");
    }
  }
  for (const char* f : {"/ours", "/base", "/theirs"}) unlink((scratch + f).c_str());
  rmdir(scratch.c_str());
  return out;
}

// At most `n` bytes of `text`, never cutting a UTF-8 sequence.
std::string Utf8Prefix(const std::string& text, size_t n) {
  if (text.size() <= n) return text;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

// An attempt's directory relative to the run directory (for the *Beneath
// functions, which check every component).
std::string AttemptRel(const Task& task, int attempt) {
  return "tasks/" + task.id + "/attempt-" + std::to_string(attempt);
}

int64_t MtimeNs(const struct stat& st) { return st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec; }

}  // namespace

std::string MergeOutcome::Describe() const {
  std::string list;
  for (const std::string& c : conflicts) list += (list.empty() ? "" : ", ") + c;
  return list.empty() ? "" : "conflicting files: " + list;
}

OutputMerger::OutputMerger(const Plan* plan, RunLayout layout, MergeConfig config)
    : plan_(plan), layout_(std::move(layout)), config_(std::move(config)) {
  bool agents = false;
  for (const Task& t : plan_->tasks) agents |= t.is_agent();
  isolated_commands_ = config_.IsolatesCommands(agents);
  // merge.json: {path: task} as older runs wrote it, or {path: {task, ...}}.
  Result<std::string> text = ReadFile(layout_.dir() + "/merge.json");
  const json j = text.ok() ? json::parse(*text, nullptr, false) : json();
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    Owner o;
    if (it.value().is_string()) {
      o.task = it.value().get<std::string>();
    } else {
      o.task = JsonString(it.value(), "task");
      o.attempt = static_cast<int>(JsonInt(it.value(), "attempt", 0));
      o.sha256 = JsonString(it.value(), "sha256");
      o.size = JsonInt(it.value(), "size", -1);
      o.mtime_ns = JsonInt(it.value(), "mtime_ns", -1);
      o.merged_at = JsonNumber(it.value(), "merged_at", 0);
      o.mode = static_cast<unsigned>(JsonInt(it.value(), "mode", 0644)) & 07777;
    }
    if (!o.task.empty()) owners_[it.key()] = o;
  }
}

void OutputMerger::OnFailed(const Task& task, BackendEvent* ev) {
  // A failed attempt in a workspace merges nothing.
  if (InWorkspace(task, ev->attempt)) return;
  std::vector<std::string> changed = CheckMergedFilesKept(task, *ev);
  if (!changed.empty()) {
    std::string list;
    for (const std::string& c : changed) list += (list.empty() ? "" : ", ") + c;
    ev->detail += "; it also changed files merged from AI tasks, which were put back: " + list;
  }
}

bool OutputMerger::InWorkspace(const Task& task, int attempt) const {
  // A command attempt's own workspace says it ran isolated, whatever the
  // setting is now (merge.isolate_commands changed by a resume).
  return task.is_agent() || isolated_commands_ ||
         IsDirectory(layout_.attempt_dir(task.id, attempt) + "/workspace");
}

void OutputMerger::OnSucceeded(const Task& task, BackendEvent* ev) {
  if (!InWorkspace(task, ev->attempt)) {
    std::vector<std::string> changed = CheckMergedFilesKept(task, *ev);
    if (!changed.empty()) {
      std::string list;
      for (const std::string& c : changed) list += (list.empty() ? "" : ", ") + c;
      ev->reason = FailureReason::kInvalidTask;
      ev->detail = "it changed files merged from AI tasks: " + list +
                   " (their merged versions were put back; a command may not change another "
                   "task's files)";
    }
    return;
  }
  Result<MergeOutcome> merged = Merge(task, ev->attempt, WallSeconds());
  if (!merged.ok()) {
    ev->reason = FailureReason::kBackendError;
    ev->detail = "merging its files failed: " + merged.status().message();
  } else if (merged->conflicted && !merged->applied) {
    ev->reason = FailureReason::kConflict;
    ev->detail = merged->Describe() + "; the next attempt starts from the merged output and is "
                                      "shown both versions (conflicts.txt)";
  }
}

std::string OutputMerger::Blame(const std::string& path) const {
  auto owner = owners_.find(path);
  if (owner != owners_.end()) return owner->second.task;
  for (const Task& t : plan_->tasks) {
    for (const std::string& o : t.outputs) {
      if (o == path) return t.id;
    }
  }
  return "";  // written by a command that did not declare it
}

namespace {
std::string Who(const std::string& task) { return task.empty() ? "a command task" : "task '" + task + "'"; }
}  // namespace

std::vector<std::string> OutputMerger::CheckMergedFilesKept(const Task& task, const BackendEvent& ev) {
  std::vector<std::string> changed;
  std::set<std::string> with;
  bool ledger_changed = false;
  for (auto& [path, owner] : owners_) {
    if (owner.sha256.empty()) continue;  // not an AI merge
    struct stat st;
    const std::string full = layout_.output() + "/" + path;
    if (lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == owner.size &&
        MtimeNs(st) == owner.mtime_ns) {
      continue;  // untouched since the merge wrote it
    }
    Result<FileBeneath> now = ReadFileBeneath(layout_.output(), path);
    if (now.ok() && Sha256Hex(now->data) == owner.sha256) continue;
    if (ev.started_at > 0 && owner.merged_at > 0 && owner.merged_at <= ev.started_at) {
      // The command started after the merge: it saw that version and changed
      // it on purpose (a formatter, a lock file). Its version stands.
      owner = Owner{task.id};
      ledger_changed = true;
      continue;
    }
    // It started before the merge, so it overwrote a version it never saw.
    changed.push_back(path + " (merged from task '" + owner.task + "')");
    with.insert(owner.task);
    Result<FileBeneath> kept = ReadFileBeneath(layout_.dir(), "merge-blobs/" + owner.sha256);
    if (kept.ok() && Sha256Hex(kept->data) == owner.sha256 &&
        WriteFileBeneath(layout_.output(), path, kept->data, owner.mode).ok() &&
        lstat(full.c_str(), &st) == 0) {
      owner.size = st.st_size;
      owner.mtime_ns = MtimeNs(st);
      ledger_changed = true;
    }
  }
  if (!changed.empty()) RecordCase(task, ev.attempt, changed, with, "put-back").IgnoreError();
  if (ledger_changed) SaveLedger().IgnoreError();
  return changed;
}

Status OutputMerger::MergeFile(const Task& task, int attempt, const FileDigest& f,
                               const std::map<std::string, std::string>& seed, MergePlan* plan) {
  // Everything under the run directory is opened beneath it, never through
  // a link: agents can write there (their workspace, their attempt
  // directory), and output/ may hold links a command task made.
  const std::string attempt_rel = AttemptRel(task, attempt);
  Result<FileBeneath> current = ReadFileBeneath(layout_.output(), f.path);
  if (!current.ok() && current.status().code() != Status::Code::kNotFound) return current.status();
  const std::string cur_sha = current.ok() ? Sha256Hex(current->data) : "";
  if (cur_sha == f.sha256) {  // already there (or merged before a crash)
    auto owner = owners_.find(f.path);
    if (owner == owners_.end() || owner->second.sha256 != cur_sha) plan->remember.push_back(f.path);
    return Status::Ok();
  }
  Result<FileBeneath> ours = ReadFileBeneath(layout_.dir(), attempt_rel + "/workspace/" + f.path);
  if (!ours.ok()) return ours.status();
  auto s = seed.find(f.path);
  const std::string seen = s == seed.end() ? "" : s->second;
  if (cur_sha == seen) {  // nobody else changed it since the seed
    plan->writes.emplace_back(f.path, std::move(*ours));
    return Status::Ok();
  }
  const std::string other = Blame(f.path);
  const std::string what = f.path + " (also changed by " + Who(other) + ")";
  if (!other.empty()) plan->with.insert(other);
  // Both changed it: merge three ways against what the seed held, when the
  // other version is one a merge wrote (a command may still be writing its
  // own) and the base is what the seed held (the agent could touch base/).
  auto owner = owners_.find(f.path);
  const bool theirs_merged = owner != owners_.end() && owner->second.sha256 == cur_sha;
  Result<FileBeneath> base = seen.empty() ? Result<FileBeneath>(FileBeneath{})
                                          : ReadFileBeneath(layout_.dir(), attempt_rel + "/base/" + f.path);
  if (!seen.empty() && !base.ok()) {
    // No copy from the attempt (the aws backend does not send it back): the
    // version an earlier merge wrote, when that is what the seed held.
    base = ReadFileBeneath(layout_.dir(), "merge-blobs/" + seen);
  }
  const bool base_ok = base.ok() && (seen.empty() ? base->data.empty() : Sha256Hex(base->data) == seen);
  const std::string theirs = current.ok() ? current->data : "";
  bool clean = false;
  Result<std::string> text = Status::InvalidArgument(
      !theirs_merged ? "the other version was written by a command, not merged"
      : !base_ok     ? "no seeded base to merge against"
                     : "binary or larger than 1 MB");
  if (theirs_merged && base_ok && Mergeable(ours->data) && Mergeable(base->data) && Mergeable(theirs)) {
    text = MergeText(ours->data, base->data, theirs, Who(other), &clean);
  }
  if (text.ok() && clean) {
    plan->outcome.three_way.push_back(what);
    plan->writes.emplace_back(f.path, FileBeneath{*text, ours->mode});
    return Status::Ok();
  }
  plan->outcome.conflicts.push_back(what);
  if (config_.conflict_policy == "keep-later") {
    plan->writes.emplace_back(f.path, std::move(*ours));
    return Status::Ok();
  }
  plan->marked += "=== " + f.path + ": this task's version against " + Who(other) + " ===\n" +
                  (text.ok() ? *text : "(not merged: " + text.status().message() + ")\n");
  return Status::Ok();
}

Status OutputMerger::PlanRemoval(const std::string& path, const std::map<std::string, std::string>& seed,
                                 MergePlan* plan) {
  Result<FileBeneath> current = ReadFileBeneath(layout_.output(), path);
  if (!current.ok()) return current.status().code() == Status::Code::kNotFound ? Status::Ok() : current.status();
  auto s = seed.find(path);
  if (s != seed.end() && Sha256Hex(current->data) == s->second) {  // as the agent saw it
    plan->removes.push_back(path);
    return Status::Ok();
  }
  const std::string other = Blame(path);
  if (!other.empty()) plan->with.insert(other);
  plan->outcome.conflicts.push_back(path + " (deleted by this task, changed by " + Who(other) + ")");
  if (config_.conflict_policy == "keep-later") {
    plan->removes.push_back(path);
  } else {
    plan->marked += "=== " + path + ": this task deleted it; " + Who(other) + " changed it ===\n";
  }
  return Status::Ok();
}

Result<MergeOutcome> OutputMerger::Merge(const Task& task, int attempt, double now) {
  Result<AttemptResult> result = ReadAttemptResult(layout_.result_path(task.id, attempt));
  if (!result.ok()) return result.status();
  const std::string attempt_rel = AttemptRel(task, attempt);
  const std::map<std::string, std::string> seed = ReadStringMap(layout_.dir() + "/" + attempt_rel + "/seed.json");
  const std::string where = "merging task '" + task.id + "'";
  // Every file is read and decided before any is written.
  MergePlan plan;
  for (const FileDigest& f : result->files) {
    PORCH_RETURN_IF_ERROR(MergeFile(task, attempt, f, seed, &plan).Annotate(where));
  }
  for (const std::string& path : result->deleted) {
    PORCH_RETURN_IF_ERROR(PlanRemoval(path, seed, &plan).Annotate(where));
  }
  MergeOutcome& outcome = plan.outcome;
  outcome.conflicted = !outcome.conflicts.empty();
  const bool keep = config_.conflict_policy == "keep-later";
  if (outcome.conflicted && !keep) {
    PORCH_RETURN_IF_ERROR(RecordCase(task, attempt, outcome.conflicts, plan.with, "failed"));
    // Shown to the retry; written beneath the run directory, never through a link.
    WriteFileBeneath(layout_.dir(), attempt_rel + "/conflicts.txt",
                     Utf8Prefix(plan.marked, kMaxConflictTextBytes), 0644)
        .IgnoreError();
    return outcome;
  }
  for (auto& [path, file] : plan.writes) {
    PORCH_RETURN_IF_ERROR(WriteFileBeneath(layout_.output(), path, file.data, file.mode).Annotate(where));
    PORCH_RETURN_IF_ERROR(Remember(task, attempt, path, file, now).Annotate(where));
  }
  for (const std::string& path : plan.removes) {
    PORCH_RETURN_IF_ERROR(RemoveFileBeneath(layout_.output(), path).Annotate(where));
    owners_.erase(path);
  }
  for (const std::string& path : plan.remember) {
    Result<FileBeneath> there = ReadFileBeneath(layout_.output(), path);
    if (there.ok()) PORCH_RETURN_IF_ERROR(Remember(task, attempt, path, *there, now).Annotate(where));
  }
  PORCH_RETURN_IF_ERROR(SaveLedger());
  // Recorded once the files are in place (a resumed merge finds them there
  // and records nothing twice).
  if (!outcome.three_way.empty()) {
    PORCH_RETURN_IF_ERROR(RecordCase(task, attempt, outcome.three_way, plan.with, "three-way"));
  }
  if (outcome.conflicted) {
    PORCH_RETURN_IF_ERROR(RecordCase(task, attempt, outcome.conflicts, plan.with, "kept-later"));
  }
  if (config_.git) Commit(task);
  outcome.applied = true;
  return outcome;
}

Status OutputMerger::Remember(const Task& task, int attempt, const std::string& path,
                              const FileBeneath& file, double now) {
  Owner o{task.id, attempt, Sha256Hex(file.data)};
  o.mode = file.mode;
  // After the write: a command that started before this saw the old version.
  o.merged_at = std::max(now, WallSeconds());
  // The merged content, so a command that overwrites it cannot lose it.
  const std::string blob = "merge-blobs/" + o.sha256;
  Result<FileBeneath> have = ReadFileBeneath(layout_.dir(), blob);
  if (!have.ok() || Sha256Hex(have->data) != o.sha256) {
    PORCH_RETURN_IF_ERROR(MakeDirs(layout_.dir() + "/merge-blobs"));
    PORCH_RETURN_IF_ERROR(WriteFileBeneath(layout_.dir(), blob, file.data, 0644));
  }
  struct stat st;
  if (lstat((layout_.output() + "/" + path).c_str(), &st) == 0) {
    o.size = st.st_size;
    o.mtime_ns = MtimeNs(st);
  }
  owners_[path] = o;
  return Status::Ok();
}

Status OutputMerger::SaveLedger() {
  json owners = json::object();
  for (const auto& [p, o] : owners_) {
    json e = {{"task", o.task}};
    if (!o.sha256.empty()) {
      e["attempt"] = o.attempt;
      e["sha256"] = o.sha256;
      e["size"] = o.size;
      e["mtime_ns"] = o.mtime_ns;
      e["mode"] = o.mode;
      e["merged_at"] = o.merged_at;
    }
    owners[p] = e;
  }
  return WriteFileAtomic(layout_.dir() + "/merge.json", owners.dump(1) + "\n");
}

Status OutputMerger::RecordCase(const Task& task, int attempt, const std::vector<std::string>& files,
                                const std::set<std::string>& with, const std::string& resolution) {
  json all = json::array();
  Result<std::string> prev = ReadFile(layout_.dir() + "/conflicts.json");
  if (prev.ok()) all = json::parse(*prev, nullptr, false);
  if (!all.is_array()) all = json::array();
  all.push_back({{"task", task.id}, {"attempt", attempt}, {"files", files}, {"with", with},
                 {"resolution", resolution}, {"policy", config_.conflict_policy}});
  return WriteFileAtomic(layout_.dir() + "/conflicts.json", all.dump(2) + "\n");
}

void OutputMerger::Commit(const Task& task) {
  const std::string out = layout_.output();
  std::vector<std::pair<std::string, std::string>> env = {
      {"GIT_COMMITTER_NAME", "porch"}, {"GIT_COMMITTER_EMAIL", "porch@localhost"},
      {"GIT_CONFIG_NOSYSTEM", "1"}};
  if (!PathExists(out + "/.git")) {
    Result<ProcessResult> init = RunProcess({"git", "init", "-q"}, out, env);
    if (!init.ok() || init->exit_code != 0) return;  // git missing: merging still works
  }
  std::string who;
  for (char c : task.id) who += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-';
  RunProcess({"git", "add", "-A"}, out, env).IgnoreError();
  RunProcess({"git", "commit", "-q", "--allow-empty", "-m", task.id + ": " + task.title,
              "--author", who + " <" + who + "@porch.local>"},
             out, env)
      .IgnoreError();  // git history is a convenience; output/ is merged either way
}

}  // namespace porch
