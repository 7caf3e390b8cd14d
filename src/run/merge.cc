#include "run/merge.h"

#include <sys/stat.h>

#include <set>

#include <nlohmann/json.hpp>

#include "core/digest.h"
#include "model/json_fields.h"
#include "model/result_file.h"
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

// Three-way merge of one text file in `scratch` (a directory of the
// attempt's): `git merge-file` semantics. Returns the merged text with
// `*clean` set, or the text with conflict markers with `*clean` false; an
// error when git could not run.
Result<std::string> MergeText(const std::string& scratch, const std::string& ours,
                              const std::string& base, const std::string& theirs,
                              const std::string& other_task, bool* clean) {
  PORCH_RETURN_IF_ERROR(MakeDirs(scratch));
  PORCH_RETURN_IF_ERROR(WriteFileFast(scratch + "/ours", ours));
  PORCH_RETURN_IF_ERROR(WriteFileFast(scratch + "/base", base));
  PORCH_RETURN_IF_ERROR(WriteFileFast(scratch + "/theirs", theirs));
  Result<ProcessResult> r = RunProcess({"git", "merge-file", "-q", "-L", "this task", "-L", "base",
                                        "-L", "task '" + other_task + "'", "ours", "base", "theirs"},
                                       scratch, {{"GIT_CONFIG_NOSYSTEM", "1"}});
  if (!r.ok()) return r.status();
  if (r->exit_code < 0 || r->exit_code > 127) {
    return Status::IoError("git merge-file failed: " + r->output.substr(0, 300));
  }
  *clean = r->exit_code == 0;
  return ReadFile(scratch + "/ours");
}

}  // namespace

std::string MergeOutcome::Describe() const {
  std::string list;
  for (const std::string& c : conflicts) list += (list.empty() ? "" : ", ") + c;
  return list.empty() ? "" : "conflicting files: " + list;
}

OutputMerger::OutputMerger(const Plan* plan, RunLayout layout, MergeConfig config)
    : plan_(plan), layout_(std::move(layout)), config_(std::move(config)) {
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
    }
    if (!o.task.empty()) owners_[it.key()] = o;
  }
}

void OutputMerger::OnSucceeded(const Task& task, BackendEvent* ev) {
  if (!task.is_agent()) {
    std::vector<std::string> changed = CheckMergedFilesKept(task);
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
  Result<MergeOutcome> merged = Merge(task, ev->attempt);
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

std::vector<std::string> OutputMerger::CheckMergedFilesKept(const Task& task) {
  std::vector<std::string> changed;
  std::set<std::string> with;
  for (auto& [path, owner] : owners_) {
    if (owner.sha256.empty()) continue;  // not an AI merge
    struct stat st;
    const std::string full = layout_.output() + "/" + path;
    if (lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == owner.size &&
        st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == owner.mtime_ns) {
      continue;  // untouched since the merge wrote it
    }
    Result<FileBeneath> now = ReadFileBeneath(layout_.output(), path);
    if (now.ok() && Sha256Hex(now->data) == owner.sha256) continue;
    changed.push_back(path + " (merged from task '" + owner.task + "')");
    with.insert(owner.task);
    Result<std::string> kept = ReadFile(layout_.dir() + "/merge-blobs/" + owner.sha256);
    if (kept.ok()) {
      WriteFileBeneath(layout_.output(), path, *kept, now.ok() ? now->mode : 0644)
          .IgnoreError();  // reported below either way
      if (lstat(full.c_str(), &st) == 0) {
        owner.size = st.st_size;
        owner.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
      }
    }
  }
  if (!changed.empty()) {
    RecordCase(task, 0, changed, with, "put-back").IgnoreError();
    SaveLedger().IgnoreError();
  }
  return changed;
}

Status OutputMerger::MergeFile(const Task& task, int attempt, const FileDigest& f,
                               const std::map<std::string, std::string>& seed, MergePlan* plan) {
  const std::string attempt_dir = layout_.attempt_dir(task.id, attempt);
  // Never through a link: output/ may hold links a command task made.
  Result<FileBeneath> current = ReadFileBeneath(layout_.output(), f.path);
  if (!current.ok() && current.status().code() != Status::Code::kNotFound) return current.status();
  const std::string cur_sha = current.ok() ? Sha256Hex(current->data) : "";
  if (cur_sha == f.sha256) return Status::Ok();  // already there (or merged before a crash)
  // A link in the workspace (the agent's own) fails here, before output/ changes.
  Result<FileBeneath> ours = ReadFileBeneath(attempt_dir + "/workspace", f.path);
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
  if (config_.conflict_policy == "keep-later") {
    plan->outcome.conflicts.push_back(what);
    plan->writes.emplace_back(f.path, std::move(*ours));
    return Status::Ok();
  }
  // Both changed it: merge three ways against what the seed held.
  Result<FileBeneath> base = seen.empty() ? Result<FileBeneath>(FileBeneath{})
                                          : ReadFileBeneath(attempt_dir + "/base", f.path);
  const std::string theirs = current.ok() ? current->data : "";
  bool clean = false;
  Result<std::string> text = Status::InvalidArgument("not text");
  if (base.ok() && Mergeable(ours->data) && Mergeable(base->data) && Mergeable(theirs)) {
    text = MergeText(attempt_dir + "/.merge", ours->data, base->data, theirs, Who(other), &clean);
  }
  if (text.ok() && clean) {
    plan->outcome.three_way.push_back(what);
    plan->writes.emplace_back(f.path, FileBeneath{*text, ours->mode});
    return Status::Ok();
  }
  plan->outcome.conflicts.push_back(what);
  plan->marked += "=== " + f.path + ": this task's version against " + Who(other) + " ===\n" +
                  (text.ok() ? *text : "(binary, too large, or no seeded base to merge against)\n");
  return Status::Ok();
}

Result<MergeOutcome> OutputMerger::Merge(const Task& task, int attempt) {
  Result<AttemptResult> result = ReadAttemptResult(layout_.result_path(task.id, attempt));
  if (!result.ok()) return result.status();
  const std::string attempt_dir = layout_.attempt_dir(task.id, attempt);
  const std::map<std::string, std::string> seed = ReadStringMap(attempt_dir + "/seed.json");
  const std::string where = "merging task '" + task.id + "'";
  // Every file is read and decided before any is written.
  MergePlan plan;
  for (const FileDigest& f : result->files) {
    PORCH_RETURN_IF_ERROR(MergeFile(task, attempt, f, seed, &plan).Annotate(where));
  }
  MergeOutcome& outcome = plan.outcome;
  outcome.conflicted = !outcome.conflicts.empty();
  if (!outcome.three_way.empty()) {
    PORCH_RETURN_IF_ERROR(RecordCase(task, attempt, outcome.three_way, plan.with, "three-way"));
  }
  if (outcome.conflicted) {
    const bool keep = config_.conflict_policy == "keep-later";
    PORCH_RETURN_IF_ERROR(
        RecordCase(task, attempt, outcome.conflicts, plan.with, keep ? "kept-later" : "failed"));
    if (!keep) {
      std::string& marked = plan.marked;
      if (marked.size() > kMaxConflictTextBytes) marked = marked.substr(0, kMaxConflictTextBytes) + "\n...";
      WriteFileFast(attempt_dir + "/conflicts.txt", marked).IgnoreError();  // shown to the retry
      return outcome;
    }
  }
  for (auto& [path, file] : plan.writes) {
    PORCH_RETURN_IF_ERROR(WriteFileBeneath(layout_.output(), path, file.data, file.mode).Annotate(where));
    PORCH_RETURN_IF_ERROR(Remember(task, attempt, path, file.data).Annotate(where));
  }
  PORCH_RETURN_IF_ERROR(SaveLedger());
  if (config_.git) Commit(task);
  outcome.applied = true;
  return outcome;
}

Status OutputMerger::Remember(const Task& task, int attempt, const std::string& path,
                              const std::string& data) {
  Owner o{task.id, attempt, Sha256Hex(data)};
  // The merged content, so a command that overwrites it cannot lose it.
  const std::string blob = layout_.dir() + "/merge-blobs/" + o.sha256;
  if (!PathExists(blob)) {
    PORCH_RETURN_IF_ERROR(MakeDirs(DirName(blob)));
    PORCH_RETURN_IF_ERROR(WriteFileAtomic(blob, data, /*sync_dir=*/false));
  }
  struct stat st;
  if (lstat((layout_.output() + "/" + path).c_str(), &st) == 0) {
    o.size = st.st_size;
    o.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
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
