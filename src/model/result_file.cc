#include "model/result_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "platform/files.h"

namespace porch {

using nlohmann::json;

std::string AttemptResultToJson(const AttemptResult& r) {
  json j = {{"task", r.task_id},
            {"attempt", r.attempt},
            {"exit_code", r.exit_code},
            {"signal", r.term_signal},
            {"ok", r.ok()},
            {"reason", FailureReasonName(r.reason)},
            {"detail", r.detail},
            {"started_at", r.started_at},
            {"finished_at", r.finished_at},
            {"runner_pid", r.runner_pid}};
  if (r.turns || r.rounds || !r.files.empty() || !r.deleted.empty() || r.usage.total()) {
    json files = json::array();
    for (const FileDigest& f : r.files) {
      files.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
    }
    j["usage"] = r.usage.ToJson();
    j["cost_usd"] = r.cost_usd;
    j["turns"] = r.turns;
    j["rounds"] = r.rounds;
    j["files"] = files;
    if (!r.deleted.empty()) j["deleted"] = r.deleted;
  }
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<AttemptResult> ParseAttemptResult(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("exit_code") || !j.contains("reason")) {
    return Status::InvalidArgument("result file '" + source + "' is not a porch result");
  }
  AttemptResult r;
  try {
    r.task_id = j.value("task", "");
    r.attempt = j.value("attempt", 0);
    r.exit_code = j.value("exit_code", 0);
    r.term_signal = j.value("signal", 0);
    r.reason = FailureReasonFromName(j.value("reason", "exit_code"));
    r.detail = j.value("detail", "");
    r.started_at = j.value("started_at", 0.0);
    r.finished_at = j.value("finished_at", 0.0);
    r.runner_pid = j.value("runner_pid", 0);
    if (j.contains("usage")) r.usage = Usage::FromJson(j["usage"]);
    r.cost_usd = j.value("cost_usd", 0.0);
    r.turns = j.value("turns", 0);
    r.rounds = j.value("rounds", 0);
    if (j.contains("files") && j["files"].is_array()) {
      for (const json& f : j["files"]) {
        r.files.push_back({f.value("path", ""), f.value("sha256", ""), f.value("size", uint64_t{0})});
      }
    }
    if (j.contains("deleted") && j["deleted"].is_array()) {
      for (const json& d : j["deleted"]) {
        if (d.is_string()) r.deleted.push_back(d.get<std::string>());
      }
    }
  } catch (const json::exception& e) {
    return Status::InvalidArgument("result file '" + source + "': " + e.what());
  }
  return r;
}

Result<AttemptResult> ReadAttemptResult(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (!PathExists(path)) return Status::NotFound("no result file '" + path + "'");
    return text.status();
  }
  return ParseAttemptResult(*text, path);
}

std::string ResultLogRecord(const AttemptResult& r) {
  json j = json::parse(AttemptResultToJson(r), nullptr, false);
  return "\n" + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

namespace {

// Calls `each` for every whole record in `text`; returns the bytes of whole
// lines (a line still being written is left for the next read).
size_t ForEachRecord(const std::string& text, const std::string& source,
                     const std::function<void(AttemptResult&&)>& each) {
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (nl == start) continue;
    Result<AttemptResult> r = ParseAttemptResult(text.substr(start, nl - start), source);
    if (r.ok()) each(std::move(*r));
  }
  return start;
}

}  // namespace

ResultLog::~ResultLog() {
  if (fd_ >= 0) close(fd_);
}

void ResultLog::Refresh(const std::function<bool(const std::string&, int)>& wanted) {
  if (fd_ < 0) fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return;  // not yet written
  Result<std::string> read = ReadFrom(fd_, offset_, path_);
  if (!read.ok()) return;
  offset_ += ForEachRecord(*read, path_, [&](AttemptResult&& r) {
    if (!wanted || wanted(r.task_id, r.attempt)) {
      results_.emplace(std::make_pair(r.task_id, r.attempt), std::move(r));
    }
  });
}

std::optional<AttemptResult> ResultLog::Scan(const std::string& path, const std::string& task_id,
                                             int attempt) {
  Result<std::string> read = ReadFileFrom(path, 0);
  if (!read.ok()) return std::nullopt;
  std::optional<AttemptResult> found;
  ForEachRecord(*read, path, [&](AttemptResult&& r) {
    if (!found && r.task_id == task_id && r.attempt == attempt) found = std::move(r);
  });
  return found;
}

const AttemptResult* ResultLog::Find(const std::string& task_id, int attempt) const {
  auto it = results_.find({task_id, attempt});
  return it == results_.end() ? nullptr : &it->second;
}

void ResultLog::Forget(const std::string& task_id, int attempt) { results_.erase({task_id, attempt}); }

}  // namespace porch
