// A journal that keeps records in memory and can be told to fail, so tests
// assert on the exact transitions the scheduler recorded.
#pragma once

#include <vector>

#include "journal/journal.h"

namespace porch {

class MemoryJournal : public Journal {
 public:
  Status Append(const JournalRecord& rec) override {
    pending.push_back(rec);
    return Status::Ok();
  }
  Status Sync() override {
    ++syncs;
    if (fail_syncs_after >= 0 && syncs > fail_syncs_after) {
      return Status::IoError("cannot write journal: No space left on device");
    }
    records.insert(records.end(), pending.begin(), pending.end());
    pending.clear();
    return Status::Ok();
  }
  // With writes_apart, Write() makes records visible (`records`) without
  // counting as a sync; else it is a Sync(), as Journal's default.
  Status Write() override {
    if (!writes_apart) return Sync();
    ++writes;
    records.insert(records.end(), pending.begin(), pending.end());
    pending.clear();
    return Status::Ok();
  }
  // Records of `type` for `task` (any task when empty), in order.
  std::vector<JournalRecord> Of(JournalRecord::Type type, const std::string& task = "") const {
    std::vector<JournalRecord> out;
    for (const auto& r : records) {
      if (r.type == type && (task.empty() || r.task == task)) out.push_back(r);
    }
    return out;
  }

  std::vector<JournalRecord> records;  // synced
  std::vector<JournalRecord> pending;  // appended, not yet synced
  int syncs = 0;
  int writes = 0;
  bool writes_apart = false;
  int fail_syncs_after = -1;  // >= 0: Sync() fails once it was called more often
};

}  // namespace porch
