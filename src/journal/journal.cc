#include "journal/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/crc32.h"
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

bool DecodeRecord(std::string_view line, JournalRecord* rec) {
  if (line.size() < 10 || line[8] != ' ') return false;
  uint32_t want = 0;
  for (int i = 0; i < 8; ++i) {
    char c = line[i];
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    want = want << 4 | static_cast<uint32_t>(v);
  }
  std::string_view body = line.substr(9);
  if (Crc32(body) != want) return false;
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return false;
  if (!TypeFromName(j["type"].get<std::string>(), &rec->type)) return false;
  rec->time = j.value("time", 0.0);
  rec->task = j.value("task", "");
  rec->attempt = j.value("attempt", 0);
  rec->job_id = j.value("job", "");
  rec->exit_code = j.value("exit", 0);
  rec->reason = FailureReasonFromName(j.value("reason", "none"));
  if (!j.contains("reason")) rec->reason = FailureReason::kNone;
  rec->detail = j.value("detail", "");
  rec->started_at = j.value("started_at", 0.0);
  rec->not_before = j.value("not_before", 0.0);
  rec->cost_usd = j.value("cost", 0.0);
  rec->tokens = j.value("tokens", int64_t{0});
  return true;
}

}  // namespace

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
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {  // no newline: a torn final write
      out.torn_tail = true;
      break;
    }
    JournalRecord rec;
    if (!DecodeRecord(std::string_view(text).substr(pos, nl - pos), &rec)) {
      if (nl + 1 >= text.size()) {  // the last record: torn, ignore
        out.torn_tail = true;
        break;
      }
      return Status::InvalidArgument("journal '" + source + "' is damaged at line " +
                                     std::to_string(line_no) +
                                     " (bad checksum or format before the last record)");
    }
    out.records.push_back(std::move(rec));
    pos = nl + 1;
    out.valid_bytes = pos;
  }
  return out;
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
  if (fdatasync(fd_) != 0) return Status::FromErrno("cannot fsync journal '" + path_ + "'", errno);
  return Status::Ok();
}

}  // namespace porch
