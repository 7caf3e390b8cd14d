#include "run/merge.h"

#include <nlohmann/json.hpp>

#include "core/digest.h"
#include "model/result_file.h"
#include "platform/files.h"
#include "platform/process.h"
#include "platform/tree.h"

namespace porch {

using nlohmann::json;

namespace {

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

}  // namespace

std::string MergeOutcome::Describe() const {
  std::string list;
  for (const std::string& c : conflicts) list += (list.empty() ? "" : ", ") + c;
  return list.empty() ? "" : "conflicting files: " + list;
}

OutputMerger::OutputMerger(const Plan* plan, RunLayout layout, MergeConfig config)
    : plan_(plan), layout_(std::move(layout)), config_(std::move(config)) {
  owners_ = ReadStringMap(layout_.dir() + "/merge.json");
}

void OutputMerger::OnSucceeded(const Task& task, BackendEvent* ev) {
  if (!task.is_agent()) return;  // command tasks write output/ themselves
  Result<MergeOutcome> merged = Merge(task, ev->attempt);
  if (!merged.ok()) {
    ev->reason = FailureReason::kBackendError;
    ev->detail = "merging its files failed: " + merged.status().message();
  } else if (merged->conflicted && !merged->applied) {
    ev->reason = FailureReason::kConflict;
    ev->detail = merged->Describe();
  }
}

Result<MergeOutcome> OutputMerger::Merge(const Task& task, int attempt) {
  Result<AttemptResult> result = ReadAttemptResult(layout_.result_path(task.id, attempt));
  if (!result.ok()) return result.status();
  const std::map<std::string, std::string> seed =
      ReadStringMap(layout_.attempt_dir(task.id, attempt) + "/seed.json");
  const std::string workspace = layout_.attempt_dir(task.id, attempt) + "/workspace";
  MergeOutcome outcome;
  std::vector<const FileDigest*> to_copy;
  for (const FileDigest& f : result->files) {
    // Never through a link: output/ may hold links a command task made.
    Result<FileBeneath> current = ReadFileBeneath(layout_.output(), f.path);
    if (!current.ok() && current.status().code() != Status::Code::kNotFound) {
      return current.status().Annotate("merging task '" + task.id + "'");
    }
    std::string cur_sha = current.ok() ? Sha256Hex(current->data) : "";
    if (cur_sha == f.sha256) continue;  // already there (or merged before a crash)
    auto s = seed.find(f.path);
    std::string seen = s == seed.end() ? "" : s->second;
    if (cur_sha != seen) {
      auto owner = owners_.find(f.path);
      outcome.conflicts.push_back(f.path + " (also written by task '" +
                                  (owner == owners_.end() ? "another task" : owner->second) + "')");
      if (config_.conflict_policy != "keep-later") continue;
    }
    to_copy.push_back(&f);
  }
  outcome.conflicted = !outcome.conflicts.empty();
  if (outcome.conflicted) {
    PORCH_RETURN_IF_ERROR(RecordConflict(task, attempt, outcome.conflicts));
    if (config_.conflict_policy != "keep-later") return outcome;
  }
  // Every file is read before any is written: a link in the workspace (the
  // agent's own) fails the merge before output/ changes.
  std::vector<FileBeneath> data;
  for (const FileDigest* f : to_copy) {
    Result<FileBeneath> file = ReadFileBeneath(workspace, f->path);
    if (!file.ok()) return file.status().Annotate("merging task '" + task.id + "'");
    data.push_back(std::move(*file));
  }
  for (size_t i = 0; i < to_copy.size(); ++i) {
    PORCH_RETURN_IF_ERROR(WriteFileBeneath(layout_.output(), to_copy[i]->path, data[i].data, data[i].mode)
                              .Annotate("merging task '" + task.id + "'"));
    owners_[to_copy[i]->path] = task.id;
  }
  json owners = json::object();
  for (const auto& [p, t] : owners_) owners[p] = t;
  PORCH_RETURN_IF_ERROR(WriteFileAtomic(layout_.dir() + "/merge.json", owners.dump(1) + "\n"));
  if (config_.git) Commit(task);
  outcome.applied = true;
  return outcome;
}

Status OutputMerger::RecordConflict(const Task& task, int attempt,
                                    const std::vector<std::string>& files) {
  json all = json::array();
  Result<std::string> prev = ReadFile(layout_.dir() + "/conflicts.json");
  if (prev.ok()) all = json::parse(*prev, nullptr, false);
  if (!all.is_array()) all = json::array();
  all.push_back({{"task", task.id}, {"attempt", attempt}, {"files", files},
                 {"policy", config_.conflict_policy}});
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
