// The run journal: the single source of truth for task state.
//
// Format: an append-only text file, one record per line:
//     <crc32 as 8 hex digits> <record as compact JSON>\n
// The CRC covers the JSON text. Only porch (the orchestrator process) writes
// it; executors write their own result files instead (see exec/).
//
// Durability contract: Append() buffers; Sync() writes and fsyncs; Write()
// only writes (readers see the records; the next Sync makes them durable). The
// scheduler calls Sync() before it acts on a transition (submits a job,
// starts dependents), so after a crash the journal holds every transition
// porch acted on; for a backend whose attempts die with the machine it only
// writes them first, and syncs at most once a second
// (Backend::NeedsDurableLaunches). A crash mid-write leaves at most a torn last line; replay
// ignores it (and Open() cuts it off before appending). A bad record that is
// not the last one means the file was damaged: replay refuses it.
//
// Threading: a FileJournal is used from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/failure.h"

namespace porch {

// What the scheduler decided about a finished attempt (kFinished records),
// so that replay, `porch status`, metrics and a resumed scheduler agree.
enum class Decision {
  kUnknown = 0,  // journals written before decisions were recorded
  kSucceeded,    // the task is done
  kRetry,        // it failed; another attempt follows (kRetryScheduled says when)
  kRequeue,      // the attempt did not count (lost, or held behind a failed
                 // dependency): the task waits to run again, no retry charged
  kFailed,       // it failed for good
  kInterrupted,  // porch was stopping (Ctrl-C): the task runs again on resume
};

const char* DecisionName(Decision d);

// Attempt numbers run from 1 to this; replay refuses any other.
constexpr int kMaxAttemptNumber = 1'000'000;

struct JournalRecord {
  enum class Type {
    kRunStarted,      // detail: run id; job_id: backend name
    kResumed,         // a later porch process took over the run
    kLaunching,       // about to submit `attempt` of `task`
    kSubmitted,       // job_id: the backend's id for the attempt
    kStarted,         // the attempt began running
    kFinished,        // exit_code, reason (kNone = success), detail
    kRetryScheduled,  // not_before: when the next attempt may start
    kSkipped,         // detail: why (a dependency failed)
    kInterrupted,     // Ctrl-C / SIGTERM: detail names the signal
    kRunFinished,     // detail: "succeeded" | "failed" | "interrupted"
  };
  Type type = Type::kLaunching;
  double time = 0;  // wall clock, seconds
  std::string task;
  int attempt = 0;
  std::string job_id;
  int exit_code = 0;
  FailureReason reason = FailureReason::kNone;
  std::string detail;
  double started_at = 0;   // kFinished: when the attempt began (backend's view)
  double not_before = 0;   // kRetryScheduled
  double cost_usd = 0;     // kFinished: AI tasks' model cost
  int64_t tokens = 0;      // kFinished: AI tasks' tokens
  Decision decision = Decision::kUnknown;  // kFinished: what the scheduler made of it
};

const char* JournalTypeName(JournalRecord::Type type);

// Encodes one record as a journal line (with CRC and newline).
std::string EncodeRecord(const JournalRecord& rec);

// Where journal records go. The scheduler writes through this interface so
// tests can record transitions in memory.
class Journal {
 public:
  virtual ~Journal() = default;
  virtual Status Append(const JournalRecord& rec) = 0;
  // Makes everything appended so far durable.
  virtual Status Sync() = 0;
  // Makes everything appended so far visible to readers of the journal
  // (`porch status`), without waiting for the disk: for turns in which porch
  // acts on nothing (group commit: the next Sync makes them durable).
  virtual Status Write() { return Sync(); }
};

class FileJournal : public Journal {
 public:
  // Opens (creating if needed) the journal at `path` for appending. Replays
  // it first: a torn last record is cut off; damage elsewhere is an error.
  // The records found are returned through `existing` when non-null.
  static Result<std::unique_ptr<FileJournal>> Open(const std::string& path,
                                                   std::vector<JournalRecord>* existing);
  ~FileJournal() override;

  Status Append(const JournalRecord& rec) override;
  // On failure (e.g. a full disk) the file is cut back to its last whole
  // record and the unwritten records stay buffered for the next Sync().
  Status Sync() override;
  Status Write() override;

 private:
  FileJournal(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
  std::string buffer_;
  uint64_t size_ = 0;     // bytes of whole records in the file
  bool unsynced_ = false;  // written since the last fdatasync
};

struct ReplayResult {
  std::vector<JournalRecord> records;
  uint64_t valid_bytes = 0;  // length of the well-formed prefix
  bool torn_tail = false;    // a partial or bad last record was ignored
};

// Parses journal text. Fails only on damage before the last record.
Result<ReplayResult> ReplayJournal(const std::string& text, const std::string& source);
// The same, handing each record to `each` in order instead of keeping them
// (a 100,000-task run's records need not all be held at once); `meta`
// receives valid_bytes and torn_tail, its `records` stay empty.
Status ReplayJournalEach(const std::string& text, const std::string& source,
                         const std::function<void(JournalRecord&&)>& each, ReplayResult* meta);

// Reads and replays the journal file at `path` (read-only).
Result<ReplayResult> ReadJournal(const std::string& path);
// The same, reading the file a block at a time and handing each record to
// `each`: neither the file's text nor its records are held whole.
Status ReadJournalEach(const std::string& path, const std::function<void(JournalRecord&&)>& each,
                       ReplayResult* meta);

}  // namespace porch
