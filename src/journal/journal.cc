#include "journal/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/crc32.h"
#include "plan/validate.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

namespace {

constexpr const char* kTypeNames[] = {"run_started", "resumed",   "launching", "submitted",
                                      "started",     "finished",  "retry",     "skipped",
                                      "interrupted", "run_finished"};

bool TypeFromName(const std::string& name, JournalRecord::Type* type) {
  for (size_t i = 0; i < std::size(kTypeNames); ++i) {
    if (name == kTypeNames[i]) {
      *type = static_cast<JournalRecord::Type>(i);
      return true;
    }
  }
  return false;
}

bool DecisionFromName(const std::string& name, Decision* d) {
  for (Decision c : {Decision::kSucceeded, Decision::kRetry, Decision::kRequeue,
                     Decision::kFailed, Decision::kInterrupted}) {
    if (name == DecisionName(c)) {
      *d = c;
      return true;
    }
  }
  return false;
}


// The JSON body of a journal line whose checksum matches, or nullopt (a torn
// or damaged line).
std::optional<std::string_view> CheckedBody(std::string_view line) {
  if (line.size() < 10 || line[8] != ' ') return std::nullopt;
  uint32_t want = 0;
  for (int i = 0; i < 8; ++i) {
    char c = line[i];
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return std::nullopt;
    want = want << 4 | static_cast<uint32_t>(v);
  }
  std::string_view body = line.substr(9);
  if (Crc32(body) != want) return std::nullopt;
  return body;
}

bool IsTaskRecord(JournalRecord::Type t) {
  using T = JournalRecord::Type;
  return t == T::kLaunching || t == T::kSubmitted || t == T::kStarted || t == T::kFinished ||
         t == T::kRetryScheduled || t == T::kSkipped;
}

// Reads one field, checking its JSON type; a missing field keeps the default.
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}
  Status Str(const char* key, std::string* out) const {
    if (!j_.contains(key)) return Status::Ok();
    if (!j_[key].is_string()) return Bad(key, "a string");
    *out = j_[key].get<std::string>();
    return Status::Ok();
  }
  Status Int(const char* key, int64_t lo, int64_t hi, int64_t* out) const {
    if (!j_.contains(key)) return Status::Ok();
    if (!j_[key].is_number_integer()) return Bad(key, "an integer");
    int64_t v = j_[key].get<int64_t>();
    if (v < lo || v > hi) return Bad(key, "from " + std::to_string(lo) + " to " + std::to_string(hi));
    *out = v;
    return Status::Ok();
  }
  Status Time(const char* key, double* out) const {
    if (!j_.contains(key)) return Status::Ok();
    if (!j_[key].is_number()) return Bad(key, "a number");
    double v = j_[key].get<double>();
    if (!std::isfinite(v) || v < 0) return Bad(key, "a finite number >= 0");
    *out = v;
    return Status::Ok();
  }

 private:
  static Status Bad(const char* key, const std::string& want) {
    return Status::InvalidArgument("field '" + std::string(key) + "' is not " + want);
  }
  const json& j_;
};

// A record from a line's checked body; InvalidArgument saying which field
// is wrong (a forged or damaged record with a valid checksum).
Status ParseRecord(std::string_view body, JournalRecord* rec) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::InvalidArgument("not a JSON object");
  Fields f(j);
  std::string type, reason = "none", decision;
  PORCH_RETURN_IF_ERROR(f.Str("type", &type));
  if (!TypeFromName(type, &rec->type)) return Status::InvalidArgument("unknown type '" + type + "'");
  int64_t attempt = 0, exit_code = 0, tokens = 0;
  PORCH_RETURN_IF_ERROR(f.Time("time", &rec->time));
  PORCH_RETURN_IF_ERROR(f.Str("task", &rec->task));
  PORCH_RETURN_IF_ERROR(f.Int("attempt", 0, kMaxAttemptNumber, &attempt));
  PORCH_RETURN_IF_ERROR(f.Str("job", &rec->job_id));
  PORCH_RETURN_IF_ERROR(f.Int("exit", INT32_MIN, INT32_MAX, &exit_code));
  PORCH_RETURN_IF_ERROR(f.Str("reason", &reason));
  PORCH_RETURN_IF_ERROR(f.Str("detail", &rec->detail));
  PORCH_RETURN_IF_ERROR(f.Time("started_at", &rec->started_at));
  PORCH_RETURN_IF_ERROR(f.Time("not_before", &rec->not_before));
  PORCH_RETURN_IF_ERROR(f.Time("cost", &rec->cost_usd));
  PORCH_RETURN_IF_ERROR(f.Int("tokens", 0, INT64_MAX, &tokens));
  PORCH_RETURN_IF_ERROR(f.Str("decision", &decision));
  if (!IsFailureReasonName(reason)) return Status::InvalidArgument("unknown reason '" + reason + "'");
  if (!decision.empty() && !DecisionFromName(decision, &rec->decision)) {
    return Status::InvalidArgument("unknown decision '" + decision + "'");
  }
  if (IsTaskRecord(rec->type)) {
    if (Status st = CheckId(rec->task); !st.ok()) return st;
    if (rec->type != JournalRecord::Type::kSkipped && attempt < 1) {
      return Status::InvalidArgument("field 'attempt' must be 1 or more in a '" + type + "' record");
    }
  }
  rec->attempt = static_cast<int>(attempt);
  rec->exit_code = static_cast<int>(exit_code);
  rec->reason = FailureReasonFromName(reason);
  rec->tokens = tokens;
  return Status::Ok();
}

}  // namespace

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kUnknown: return "";
    case Decision::kSucceeded: return "succeeded";
    case Decision::kRetry: return "retry";
    case Decision::kRequeue: return "requeue";
    case Decision::kFailed: return "failed";
    case Decision::kInterrupted: return "interrupted";
  }
  return "";
}


const char* JournalTypeName(JournalRecord::Type type) {
  return kTypeNames[static_cast<size_t>(type)];
}

std::string EncodeRecord(const JournalRecord& rec) {
  json j = {{"type", JournalTypeName(rec.type)}, {"time", rec.time}};
  if (!rec.task.empty()) j["task"] = rec.task;
  if (rec.attempt) j["attempt"] = rec.attempt;
  if (!rec.job_id.empty()) j["job"] = rec.job_id;
  if (rec.type == JournalRecord::Type::kFinished) {
    j["exit"] = rec.exit_code;
    if (rec.reason != FailureReason::kNone) j["reason"] = FailureReasonName(rec.reason);
    if (rec.started_at > 0) j["started_at"] = rec.started_at;
    if (rec.cost_usd > 0) j["cost"] = rec.cost_usd;
    if (rec.tokens > 0) j["tokens"] = rec.tokens;
    if (rec.decision != Decision::kUnknown) j["decision"] = DecisionName(rec.decision);
  }
  if (!rec.detail.empty()) j["detail"] = rec.detail;
  if (rec.not_before > 0) j["not_before"] = rec.not_before;
  std::string body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x ", Crc32(body));
  return crc + body + "\n";
}

Result<ReplayResult> ReplayJournal(const std::string& text, const std::string& source) {
  ReplayResult out;
  PORCH_RETURN_IF_ERROR(ReplayJournalEach(
      text, source, [&out](JournalRecord&& rec) { out.records.push_back(std::move(rec)); }, &out));
  return out;
}

namespace {

// Replays journal text handed in blocks: complete lines are parsed and
// handed on, a partial last line waits for the next block. A damaged record
// is an error unless it is the journal's last (a torn final write).
class Replayer {
 public:
  Replayer(const std::string& source, const std::function<void(JournalRecord&&)>& each, ReplayResult* meta)
      : source_(source), each_(each), meta_(meta) {}

  // Consumes the complete lines of `text` (*used says how many bytes); with
  // `eof`, judges what is left.
  Status Feed(std::string_view text, bool eof, size_t* used) {
    size_t pos = 0;
    *used = 0;
    for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      if (bad_) return *bad_;  // more follows the damaged record
      ++line_no_;
      auto where = [&] { return " at line " + std::to_string(line_no_) + " (byte " + std::to_string(consumed_ + pos) + ")"; };
      std::optional<std::string_view> body = CheckedBody(text.substr(pos, nl - pos));
      if (!body) {
        bad_ = Status::InvalidArgument("journal '" + source_ + "' is damaged" + where() +
                                       ": bad checksum or format before the last record");
        continue;
      }
      JournalRecord rec;
      if (Status parsed = ParseRecord(*body, &rec); !parsed.ok()) {
        return Status::InvalidArgument("journal '" + source_ + "' has a bad record" + where() + ": " +
                                       parsed.message());
      }
      each_(std::move(rec));
      meta_->valid_bytes = consumed_ + nl + 1;
    }
    consumed_ += pos;
    *used = pos;
    if (!eof) return Status::Ok();
    const bool rest = pos < text.size();
    if (bad_ && rest) return *bad_;  // a partial line after the damage
    meta_->torn_tail = bad_.has_value() || rest;
    return Status::Ok();
  }

 private:
  const std::string& source_;
  const std::function<void(JournalRecord&&)>& each_;
  ReplayResult* meta_;
  uint64_t consumed_ = 0;  // bytes before the text in hand
  int line_no_ = 0;
  std::optional<Status> bad_;
};

}  // namespace

Status ReplayJournalEach(const std::string& text, const std::string& source,
                         const std::function<void(JournalRecord&&)>& each, ReplayResult* meta) {
  size_t used = 0;
  return Replayer(source, each, meta).Feed(text, /*eof=*/true, &used);
}

Status ReadJournalEach(const std::string& path, const std::function<void(JournalRecord&&)>& each,
                       ReplayResult* meta) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot open journal '" + path + "'", errno);
  Replayer replayer(path, each, meta);
  std::string buf;  // unread text: at most one block and a line
  std::vector<char> block(1 << 20);
  Status st;
  for (bool eof = false; !eof && st.ok();) {
    ssize_t n = read(fd, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Status::FromErrno("cannot read journal '" + path + "'", errno);
      break;
    }
    eof = n == 0;
    buf.append(block.data(), static_cast<size_t>(n));
    size_t used = 0;
    st = replayer.Feed(buf, eof, &used);
    buf.erase(0, used);
  }
  close(fd);
  return st;
}

Result<ReplayResult> ReadJournal(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ReplayJournal(*text, path);
}

Result<std::unique_ptr<FileJournal>> FileJournal::Open(const std::string& path,
                                                       std::vector<JournalRecord>* existing) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("cannot open journal '" + path + "'", errno);
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) {
    close(fd);
    return text.status();
  }
  Result<ReplayResult> replay = ReplayJournal(*text, path);
  if (!replay.ok()) {
    close(fd);
    return replay.status();
  }
  if (replay->valid_bytes != text->size()) {
    if (ftruncate(fd, static_cast<off_t>(replay->valid_bytes)) != 0 || fsync(fd) != 0) {
      int err = errno;
      close(fd);
      return Status::FromErrno("cannot cut the torn tail of journal '" + path + "'", err);
    }
  }
  if (existing) *existing = std::move(replay->records);
  auto journal = std::unique_ptr<FileJournal>(new FileJournal(fd, path));
  journal->size_ = replay->valid_bytes;
  if (text->empty()) PORCH_RETURN_IF_ERROR(SyncDir(DirName(path)));
  return journal;
}

FileJournal::~FileJournal() {
  Sync().IgnoreError();  // a destructor cannot report; Sync() callers saw any error
  close(fd_);
}

Status FileJournal::Append(const JournalRecord& rec) {
  buffer_ += EncodeRecord(rec);
  return Status::Ok();
}

Status FileJournal::Sync() {
  PORCH_RETURN_IF_ERROR(Write());
  if (!unsynced_) return Status::Ok();
  if (fdatasync(fd_) != 0) return Status::FromErrno("cannot fsync journal '" + path_ + "'", errno);
  unsynced_ = false;
  return Status::Ok();
}

Status FileJournal::Write() {
  if (buffer_.empty()) return Status::Ok();
  Status st = WriteAll(fd_, buffer_, path_).Annotate("journal");
  if (!st.ok()) {
    // Leave no partial record behind (a full disk, say): the journal must
    // stay a sequence of whole records, or a later append would land after
    // damage. The buffer is kept so a later Sync() can try again.
    if (ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      return st.Annotate("and cannot cut the partial record (" + path_ + ")");
    }
    return st;
  }
  size_ += buffer_.size();
  buffer_.clear();
  unsynced_ = true;
  return Status::Ok();
}

}  // namespace porch
