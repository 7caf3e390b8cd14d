#include "backend/merging_backend.h"

#include <nlohmann/json.hpp>

#include "agent/workspace.h"
#include "aws/sigv4.h"
#include "exec/attempt.h"
#include "platform/files.h"
#include "platform/process.h"

namespace porch {

using nlohmann::json;

MergingBackend::MergingBackend(std::unique_ptr<Backend> inner, const Plan* plan,
                               RunLayout layout, MergeConfig config)
    : inner_(std::move(inner)), plan_(plan), layout_(std::move(layout)), config_(config) {
  Result<std::string> text = ReadFile(layout_.dir() + "/merge.json");
  if (text.ok()) {
    json j = json::parse(*text, nullptr, false);
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) owners_[it.key()] = it.value();
    }
  }
}

std::vector<BackendEvent> MergingBackend::Wait(double deadline) {
  std::vector<BackendEvent> events = inner_->Wait(deadline);
  for (BackendEvent& ev : events) {
    if (ev.kind != BackendEvent::Kind::kFinished || ev.reason != FailureReason::kNone) continue;
    const Task& task = plan_->tasks[ev.index];
    if (task.prompt.empty()) continue;  // command tasks write output/ themselves
    Result<std::string> conflict = Merge(task, ev.attempt);
    if (!conflict.ok()) {
      ev.reason = FailureReason::kBackendError;
      ev.detail = "merging its files failed: " + conflict.status().message();
    } else if (!conflict->empty()) {
      ev.reason = FailureReason::kConflict;
      ev.detail = *conflict;
    }
  }
  return events;
}

Result<std::string> MergingBackend::Merge(const Task& task, int attempt) {
  Result<AttemptResult> result = ReadAttemptResult(layout_.result_path(task.id, attempt));
  if (!result.ok()) return result.status();
  std::map<std::string, std::string> seed;
  Result<std::string> seed_text = ReadFile(layout_.attempt_dir(task.id, attempt) + "/seed.json");
  if (seed_text.ok()) {
    json j = json::parse(*seed_text, nullptr, false);
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) seed[it.key()] = it.value();
    }
  }
  std::string workspace = layout_.attempt_dir(task.id, attempt) + "/workspace";
  std::vector<std::string> conflicts;
  std::vector<const FileDigest*> to_copy;
  for (const FileDigest& f : result->files) {
    std::string out = layout_.output() + "/" + f.path;
    Result<std::string> current = ReadFile(out);
    std::string cur_sha = current.ok() ? Sha256Hex(*current) : "";
    if (cur_sha == f.sha256) continue;  // already there (or merged before a crash)
    auto s = seed.find(f.path);
    std::string seen = s == seed.end() ? "" : s->second;
    if (cur_sha != seen) {
      std::string other = owners_.count(f.path) ? owners_[f.path] : "another task";
      conflicts.push_back(f.path + " (also written by task '" + other + "')");
      if (config_.conflict_policy != "keep-later") continue;
    }
    to_copy.push_back(&f);
  }
  std::string conflict_text;
  if (!conflicts.empty()) {
    std::string list;
    for (const std::string& c : conflicts) list += (list.empty() ? "" : ", ") + c;
    conflict_text = "conflicting files: " + list;
    json all = json::array();
    Result<std::string> prev = ReadFile(layout_.dir() + "/conflicts.json");
    if (prev.ok()) all = json::parse(*prev, nullptr, false);
    if (!all.is_array()) all = json::array();
    all.push_back({{"task", task.id}, {"attempt", attempt}, {"files", conflicts},
                   {"policy", config_.conflict_policy}});
    PORCH_RETURN_IF_ERROR(WriteFileAtomic(layout_.dir() + "/conflicts.json", all.dump(2) + "\n"));
    if (config_.conflict_policy != "keep-later") return conflict_text;
  }
  for (const FileDigest* f : to_copy) {
    PORCH_RETURN_IF_ERROR(CopyFile(workspace + "/" + f->path, layout_.output() + "/" + f->path));
    owners_[f->path] = task.id;
  }
  json owners = json::object();
  for (const auto& [p, t] : owners_) owners[p] = t;
  PORCH_RETURN_IF_ERROR(WriteFileAtomic(layout_.dir() + "/merge.json", owners.dump(1) + "\n"));
  if (config_.git) Commit(task);
  return std::string();  // merged; a keep-later conflict is recorded, not a failure
}

void MergingBackend::Commit(const Task& task) {
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
  RunProcess({"git", "add", "-A"}, out, env);
  RunProcess({"git", "commit", "-q", "--allow-empty", "-m", task.id + ": " + task.title,
              "--author", who + " <" + who + "@porch.local>"},
             out, env);
}

}  // namespace porch
