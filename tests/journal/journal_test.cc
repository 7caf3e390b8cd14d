#include "journal/journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "journal/run_state.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

JournalRecord Rec(JournalRecord::Type type, const std::string& task, int attempt) {
  JournalRecord r;
  r.type = type;
  r.time = 100 + attempt;
  r.task = task;
  r.attempt = attempt;
  return r;
}

TEST(JournalTest, EncodeReplayRoundTrip) {
  JournalRecord f = Rec(JournalRecord::Type::kFinished, "t \"odd\" {id} ü", 2);
  f.exit_code = 3;
  f.reason = FailureReason::kTimeout;
  f.detail = "time limit of 5s exceeded";
  f.started_at = 99.5;
  JournalRecord s = Rec(JournalRecord::Type::kSubmitted, "a", 1);
  s.job_id = "local:1:2";
  std::string text = EncodeRecord(s) + EncodeRecord(f);
  Result<ReplayResult> r = ReplayJournal(text, "j");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->records.size(), 2u);
  EXPECT_FALSE(r->torn_tail);
  EXPECT_EQ(r->records[0].job_id, "local:1:2");
  const JournalRecord& g = r->records[1];
  EXPECT_EQ(g.type, JournalRecord::Type::kFinished);
  EXPECT_EQ(g.task, f.task);
  EXPECT_EQ(g.attempt, 2);
  EXPECT_EQ(g.exit_code, 3);
  EXPECT_EQ(g.reason, FailureReason::kTimeout);
  EXPECT_EQ(g.detail, f.detail);
  EXPECT_DOUBLE_EQ(g.started_at, 99.5);
}

TEST(JournalTest, TornLastRecordIsIgnored) {
  std::string good = EncodeRecord(Rec(JournalRecord::Type::kLaunching, "a", 1));
  std::string next = EncodeRecord(Rec(JournalRecord::Type::kSubmitted, "a", 1));
  // Cut anywhere inside the second record.
  for (size_t cut = 1; cut < next.size(); ++cut) {
    Result<ReplayResult> r = ReplayJournal(good + next.substr(0, cut), "j");
    ASSERT_TRUE(r.ok()) << cut;
    EXPECT_EQ(r->records.size(), 1u) << cut;
    EXPECT_TRUE(r->torn_tail) << cut;
    EXPECT_EQ(r->valid_bytes, good.size());
  }
}

TEST(JournalTest, CorruptLastLineWithNewlineIsTorn) {
  std::string good = EncodeRecord(Rec(JournalRecord::Type::kLaunching, "a", 1));
  std::string bad = EncodeRecord(Rec(JournalRecord::Type::kSubmitted, "a", 1));
  bad[12] ^= 0x20;  // flip a bit in the body: CRC mismatch
  Result<ReplayResult> r = ReplayJournal(good + bad, "j");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records.size(), 1u);
  EXPECT_TRUE(r->torn_tail);
}

TEST(JournalTest, DamageBeforeTheEndIsAnError) {
  std::string a = EncodeRecord(Rec(JournalRecord::Type::kLaunching, "a", 1));
  std::string b = EncodeRecord(Rec(JournalRecord::Type::kSubmitted, "a", 1));
  a[15] ^= 0x01;
  Result<ReplayResult> r = ReplayJournal(a + b, "run/journal.log");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("journal 'run/journal.log' is damaged at line 1"),
            std::string::npos);
}

TEST(JournalTest, ReadingAFileBlockByBlockSeesWhatReplayingItsTextSees) {
  // Enough records that lines straddle the reader's 1 MiB blocks.
  TempDir dir;
  std::string text;
  for (int i = 0; text.size() < 3 * (1 << 20); ++i) {
    JournalRecord r = Rec(JournalRecord::Type::kFinished, "task-" + std::to_string(i), 1 + i % 3);
    r.detail = std::string(static_cast<size_t>(i % 200), 'x');
    text += EncodeRecord(r);
  }
  const std::string bad_tail = EncodeRecord(Rec(JournalRecord::Type::kSubmitted, "z", 1));
  std::string damaged = bad_tail;
  damaged[12] ^= 0x20;
  const std::string damaged_middle = text.substr(0, 100) + "garbage\n" + text.substr(100);
  // A record that ends exactly where the reader's first block does.
  std::string boundary;
  for (int i = 0;; ++i) {
    const std::string next = EncodeRecord(Rec(JournalRecord::Type::kLaunching, "b" + std::to_string(i), 1));
    if (boundary.size() + next.size() + 600 > (1u << 20)) break;
    boundary += next;
  }
  for (size_t pad = 0; boundary.size() < (1u << 20) && pad < 2000; ++pad) {
    JournalRecord r = Rec(JournalRecord::Type::kFinished, "edge", 1);
    r.detail = std::string(pad, 'y');
    if (boundary.size() + EncodeRecord(r).size() == (1u << 20)) boundary += EncodeRecord(r);
  }
  ASSERT_EQ(boundary.size(), 1u << 20);
  boundary += EncodeRecord(Rec(JournalRecord::Type::kSubmitted, "after-the-edge", 1));
  struct Case {
    std::string name, content;
  };
  for (const Case& c : {Case{"whole", text}, Case{"a record ends at the block's end", boundary}, Case{"torn", text + bad_tail.substr(0, 20)},
                        Case{"damaged last", text + damaged}, Case{"damaged middle", damaged_middle},
                        Case{"damage then a partial line", text + damaged + "abc"}}) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.path() + "/journal.log";
    ASSERT_TRUE(WriteFileAtomic(path, c.content).ok());
    Result<ReplayResult> whole = ReplayJournal(c.content, path);
    ReplayResult meta;
    std::vector<JournalRecord> seen;
    Status read = ReadJournalEach(path, [&seen](JournalRecord&& r) { seen.push_back(std::move(r)); }, &meta);
    ASSERT_EQ(read.ok(), whole.ok()) << read.ToString();
    if (!whole.ok()) {
      EXPECT_EQ(read.message(), whole.status().message());
      continue;
    }
    ASSERT_EQ(seen.size(), whole->records.size());
    for (size_t i = 0; i < seen.size(); ++i) {
      ASSERT_EQ(EncodeRecord(seen[i]), EncodeRecord(whole->records[i])) << i;
    }
    EXPECT_EQ(meta.valid_bytes, whole->valid_bytes);
    EXPECT_EQ(meta.torn_tail, whole->torn_tail);
  }
}

TEST(JournalTest, FileJournalCutsTornTailBeforeAppending) {
  TempDir dir;
  std::string path = dir.path() + "/journal.log";
  std::string good = EncodeRecord(Rec(JournalRecord::Type::kLaunching, "a", 1));
  ASSERT_TRUE(WriteFileAtomic(path, good + "deadbeef {\"type\":\"subm").ok());
  std::vector<JournalRecord> existing;
  {
    Result<std::unique_ptr<FileJournal>> j = FileJournal::Open(path, &existing);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    EXPECT_EQ(existing.size(), 1u);
    ASSERT_TRUE((*j)->Append(Rec(JournalRecord::Type::kStarted, "a", 1)).ok());
    ASSERT_TRUE((*j)->Sync().ok());
  }
  Result<ReplayResult> r = ReadJournal(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->torn_tail);
  ASSERT_EQ(r->records.size(), 2u);
  EXPECT_EQ(r->records[1].type, JournalRecord::Type::kStarted);
}

// Write() shows the records to readers (porch status) at once; Sync() then
// has only the fdatasync left, and a second Sync() nothing at all.
TEST(JournalTest, WriteShowsRecordsToReadersBeforeSync) {
  TempDir dir;
  std::string path = dir.path() + "/journal.log";
  Result<std::unique_ptr<FileJournal>> j = FileJournal::Open(path, nullptr);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  ASSERT_TRUE((*j)->Append(Rec(JournalRecord::Type::kFinished, "a", 1)).ok());
  EXPECT_EQ(ReadJournal(path)->records.size(), 0u);
  ASSERT_TRUE((*j)->Write().ok());
  EXPECT_EQ(ReadJournal(path)->records.size(), 1u);
  ASSERT_TRUE((*j)->Append(Rec(JournalRecord::Type::kLaunching, "b", 1)).ok());
  ASSERT_TRUE((*j)->Sync().ok());
  ASSERT_TRUE((*j)->Sync().ok());
  Result<ReplayResult> r = ReadJournal(path);
  ASSERT_EQ(r->records.size(), 2u);
  EXPECT_EQ(r->records[1].type, JournalRecord::Type::kLaunching);
}

TEST(JournalTest, AppendIsNotDurableUntilSync) {
  TempDir dir;
  std::string path = dir.path() + "/journal.log";
  Result<std::unique_ptr<FileJournal>> j = FileJournal::Open(path, nullptr);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE((*j)->Append(Rec(JournalRecord::Type::kLaunching, "a", 1)).ok());
  EXPECT_EQ(ReadJournal(path)->records.size(), 0u);
  ASSERT_TRUE((*j)->Sync().ok());
  EXPECT_EQ(ReadJournal(path)->records.size(), 1u);
}

TEST(RunStateTest, FoldsTransitions) {
  std::vector<JournalRecord> recs;
  JournalRecord start;
  start.type = JournalRecord::Type::kRunStarted;
  start.detail = "run-1";
  start.job_id = "threading";
  recs.push_back(start);
  recs.push_back(Rec(JournalRecord::Type::kLaunching, "a", 1));
  JournalRecord fail = Rec(JournalRecord::Type::kFinished, "a", 1);
  fail.reason = FailureReason::kExitCode;
  fail.exit_code = 1;
  recs.push_back(fail);
  JournalRecord retry = Rec(JournalRecord::Type::kRetryScheduled, "a", 1);
  retry.not_before = 500;
  recs.push_back(retry);
  recs.push_back(Rec(JournalRecord::Type::kLaunching, "a", 2));
  recs.push_back(Rec(JournalRecord::Type::kLaunching, "b", 1));
  recs.push_back(Rec(JournalRecord::Type::kFinished, "b", 1));
  JournalRecord skip = Rec(JournalRecord::Type::kSkipped, "c", 0);
  skip.detail = "dependency 'x' failed";
  recs.push_back(skip);
  RunState s = FoldJournal(recs);
  EXPECT_EQ(s.run_id, "run-1");
  EXPECT_EQ(s.backend, "threading");
  EXPECT_EQ(s.tasks["a"].state, TaskState::kRunning);
  EXPECT_EQ(s.tasks["a"].last_attempt(), 2);
  EXPECT_EQ(s.tasks["a"].attempts.size(), 2u);
  EXPECT_EQ(s.tasks["a"].attempts[0].reason, FailureReason::kExitCode);
  EXPECT_EQ(s.tasks["b"].state, TaskState::kSucceeded);
  EXPECT_EQ(s.tasks["c"].state, TaskState::kSkipped);
  EXPECT_EQ(s.tasks["c"].skip_reason, "dependency 'x' failed");
}

}  // namespace
}  // namespace porch
