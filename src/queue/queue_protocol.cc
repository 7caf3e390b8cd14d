#include "queue/queue_protocol.h"

#include "plan/validate.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace porch {

std::string QueueClass(int gpus) { return gpus > 0 ? "gpu" : "default"; }

Result<std::vector<std::string>> WorkerClasses(const std::vector<std::string>& labels) {
  std::vector<std::string> sorted;
  for (const std::string& l : labels) {
    if (l.empty() || l.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
      return Status::InvalidArgument("--labels: '" + l + "' is not a label (lower-case letters, digits, '_', '-')");
    }
    if (l == "default") return Status::InvalidArgument("--labels: 'default' is the class every worker serves");
    if (std::find(sorted.begin(), sorted.end(), l) == sorted.end()) sorted.push_back(l);
  }
  if (sorted.size() > 6) return Status::InvalidArgument("--labels: at most 6 labels");
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> classes = {"default"};
  for (unsigned mask = 1; mask < (1u << sorted.size()); ++mask) {
    std::string cls;
    for (size_t i = 0; i < sorted.size(); ++i) {
      if ((mask & (1u << i)) == 0) continue;
      if (!cls.empty()) cls += '+';
      cls += sorted[i];
    }
    classes.push_back(cls);
  }
  return classes;
}

namespace {


bool ToInt(const std::string& s, int* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < -1000000000L || v > 1000000000L) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ToDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !(v >= 0) || v > 1e12) return false;
  *out = v;
  return true;
}

std::string Num(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

// A task id or a uid as a plan may have it (plan/validate.h): it becomes a
// path component and part of a key.
bool SafeName(const std::string& s) { return CheckId(s).ok(); }

}  // namespace

std::map<std::string, std::string> Fields(const RedisReply& fields) {
  std::map<std::string, std::string> out;
  if (!fields.is_array()) return out;
  for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    out.emplace(fields.elements[i].text(), fields.elements[i + 1].text());
  }
  return out;
}

std::string FieldOf(const RedisReply& fields, const std::string& name) {
  for (size_t i = 0; fields.is_array() && i + 1 < fields.elements.size(); i += 2) {
    if (fields.elements[i].text() == name) return fields.elements[i + 1].text();
  }
  return "";
}

std::vector<std::string> EncodeAttempt(const AttemptMessage& m) {
  if (!m.stage.empty()) {
    return {"v", "1", "uid", m.run_uid, "stage", m.stage, "task", m.task_id, "attempt", std::to_string(m.attempt),
            "limit", Num(m.time_limit_s), "grace", Num(m.grace_s), "gpus", std::to_string(m.gpus),
            "results", m.results, "prefix", m.prefix, "vis", Num(m.visibility_s)};
  }
  return {"v", "1", "uid", m.run_uid, "dir", m.run_dir, "task", m.task_id, "attempt", std::to_string(m.attempt),
          "limit", Num(m.time_limit_s), "grace", Num(m.grace_s), "gpus", std::to_string(m.gpus),
          "results", m.results, "prefix", m.prefix, "vis", Num(m.visibility_s)};
}

std::string WorkerRunDir(const AttemptMessage& m, const std::string& work_dir) {
  if (m.stage.empty()) return m.run_dir;
  return work_dir + "/porch-" + m.run_uid + "/" + m.task_id + "-" + std::to_string(m.attempt);
}

Result<AttemptMessage> DecodeAttempt(const RedisReply& fields) {
  std::map<std::string, std::string> f = Fields(fields);
  if (f["v"] != "1") return Status::InvalidArgument("not a porch attempt (v=" + f["v"] + ")");
  AttemptMessage m;
  m.run_uid = f["uid"];
  m.run_dir = f["dir"];
  m.task_id = f["task"];
  m.results = f["results"];
  m.prefix = f["prefix"];
  if (!SafeName(m.run_uid)) return Status::InvalidArgument("a bad run uid '" + m.run_uid + "'");
  m.stage = f["stage"];
  if (!m.stage.empty()) {
    // Staged through S3: the worker has no use for porch's run directory.
    if (m.stage.rfind("s3://", 0) != 0 || m.stage.size() <= 5 || m.stage.find("/..") != std::string::npos ||
        !m.run_dir.empty()) {
      return Status::InvalidArgument("the stage '" + m.stage + "' is not an s3://bucket/prefix URL of a run");
    }
  } else if (m.run_dir.empty() || m.run_dir.front() != '/') {
    return Status::InvalidArgument("the run directory '" + m.run_dir + "' is not an absolute path");
  }
  if (!SafeName(m.task_id)) return Status::InvalidArgument("a bad task id '" + m.task_id + "'");
  if (!ToInt(f["attempt"], &m.attempt) || m.attempt < 1) {
    return Status::InvalidArgument("a bad attempt number '" + f["attempt"] + "'");
  }
  if (!ToDouble(f["limit"], &m.time_limit_s)) return Status::InvalidArgument("a bad time limit '" + f["limit"] + "'");
  if (!ToDouble(f["grace"], &m.grace_s)) return Status::InvalidArgument("a bad grace '" + f["grace"] + "'");
  if (!ToInt(f["gpus"], &m.gpus) || m.gpus < 0) return Status::InvalidArgument("a bad gpu count '" + f["gpus"] + "'");
  if (m.results.empty() || m.prefix.empty()) return Status::InvalidArgument("no result stream or key prefix");
  if (!f["vis"].empty() && !ToDouble(f["vis"], &m.visibility_s)) {
    return Status::InvalidArgument("a bad visibility timeout '" + f["vis"] + "'");
  }
  if (m.results != QueueNames{m.prefix}.Results(m.run_uid)) {
    return Status::InvalidArgument("the result stream '" + m.results + "' is not the run's");
  }
  return m;
}

std::vector<std::string> EncodeResult(const ResultMessage& m) {
  return {"task", m.task_id, "attempt", std::to_string(m.attempt), "exit", std::to_string(m.exit_code),
          "worker", m.worker, "entry", m.entry, "started", Num(m.started_at), "ended", Num(m.ended_at), "detail", m.detail,
          "lost", m.lost ? "1" : "0"};
}

Result<ResultMessage> DecodeResult(const RedisReply& fields) {
  std::map<std::string, std::string> f = Fields(fields);
  ResultMessage m;
  m.task_id = f["task"];
  m.worker = f["worker"];
  m.entry = f["entry"];
  m.detail = f["detail"];
  m.lost = f["lost"] == "1";
  if (m.task_id.empty()) return Status::InvalidArgument("a result without a task");
  if (!ToInt(f["attempt"], &m.attempt) || !ToInt(f["exit"], &m.exit_code)) {
    return Status::InvalidArgument("a result with a bad attempt or exit code");
  }
  ToDouble(f["started"], &m.started_at);
  ToDouble(f["ended"], &m.ended_at);
  return m;
}

std::map<std::string, std::vector<StreamEntry>> StreamEntries(const RedisReply& reply) {
  std::map<std::string, std::vector<StreamEntry>> out;
  if (!reply.is_array()) return out;
  for (const RedisReply& stream : reply.elements) {
    if (!stream.is_array() || stream.elements.size() != 2 || !stream.elements[1].is_array()) continue;
    std::vector<StreamEntry>& entries = out[stream.elements[0].text()];
    for (const RedisReply& e : stream.elements[1].elements) {
      if (!e.is_array() || e.elements.empty()) continue;
      // A pending entry deleted meanwhile comes back with nil fields.
      entries.push_back({e.elements[0].text(), e.elements.size() > 1 ? e.elements[1] : RedisReply{}});
    }
  }
  return out;
}

}  // namespace porch
