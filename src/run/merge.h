// The output-merge stage: AI tasks' work reaches the run's output/ here, as
// their attempts succeed. The Runner hands it to the Scheduler as a
// CompletionStage, so every backend's attempts pass the same merge, and
// porch (the only writer of output/) does it in its own process, on the
// scheduler's thread.
//
// An AI attempt works in a workspace seeded with output/ (seed.json records
// what it saw, base/ keeps a copy of the seeded text files) and lists what it
// produced in result.json. A produced file is copied into output/ when no
// other task changed that path since the seed. When one did, the two
// versions are merged three ways against the seeded base (`git merge-file`
// semantics: only overlapping hunks conflict); a clean merge is written and
// recorded, a real conflict (or a binary file) is one. With
// merge.conflict_policy "fail" (the default) a conflict fails the attempt
// with reason `conflict`, naming the files and the other task, nothing of it
// is merged, and the versions with conflict markers are kept in the attempt's
// conflicts.txt, which the task's next attempt (on top of the merged state)
// is shown; with "keep-later" its version wins. Every such case is recorded
// in conflicts.json, naming both tasks and how it was resolved.
// With merge.git, output/ is a git repository with one commit per merged
// task, authored by the task id.
//
// With merge.isolate_commands ("auto", the default: when the plan has AI
// tasks) command tasks work in a workspace like AI tasks and pass this same
// merge, ownership and conflict rules included. Otherwise they write
// output/ directly (a copy of output/ per command would cost what porch's
// local backend cannot afford); after one succeeds, the files AI tasks
// merged are checked, and a command that changed one fails (invalid_task,
// naming both tasks) and the merged version is put back.
//
// State: merge.json (output path -> the task that wrote it last, with the
// attempt and digest of AI merges), merge-blobs/ (the content of every AI
// merge, by SHA-256) and conflicts.json in the run directory, rewritten
// atomically after each merge, so a resumed run keeps them.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/run_layout.h"
#include "plan/task.h"
#include "platform/tree.h"
#include "sched/scheduler.h"

namespace porch {

struct MergeOutcome {
  bool conflicted = false;             // some files conflicted with another task's
  std::vector<std::string> conflicts;  // "path (also written by task 'x')"
  std::vector<std::string> three_way;  // files merged cleanly with another task's changes
  bool applied = false;                // the attempt's files are in output/ now

  // "conflicting files: a, b" (empty when there was no conflict).
  std::string Describe() const;
};

class OutputMerger : public CompletionStage {
 public:
  // `plan` is not owned and must outlive the merger.
  OutputMerger(const Plan* plan, RunLayout layout, MergeConfig config);

  // Merges a succeeded AI attempt; a conflict under the "fail" policy, or a
  // merge that could not be written, turns the event into a failure. For a
  // command task, checks that it left the files AI tasks merged alone.
  void OnSucceeded(const Task& task, BackendEvent* ev) override;
  // A failed command task: files AI tasks merged that it changed are put
  // back (and said so in its detail).
  void OnFailed(const Task& task, BackendEvent* ev) override;

  // Merges attempt `attempt` of `task` into output/. An error means the
  // merge could not be done (unreadable result, a write that failed).
  // `now`: when (wall clock) the attempt ended, kept as the merge's time.
  Result<MergeOutcome> Merge(const Task& task, int attempt, double now = 0);

 private:
  // One output path's last writer. For AI merges: the attempt, the digest
  // and what lstat said right after the write (a quick "unchanged" check).
  // Whether the attempt worked in a workspace (and so passes the merge).
  bool InWorkspace(const Task& task, int attempt) const;

  struct Owner {
    std::string task;
    int attempt = 0;
    std::string sha256;
    int64_t size = -1;
    int64_t mtime_ns = -1;
    unsigned mode = 0644;
    double merged_at = 0;  // wall clock; commands started later saw this version
  };

  // What merging one attempt will do, decided before anything is written.
  struct MergePlan {
    MergeOutcome outcome;
    std::vector<std::pair<std::string, FileBeneath>> writes;  // path -> new content
    std::set<std::string> with;                               // the other tasks involved
    std::string marked;                                       // conflict-marked versions
    std::vector<std::string> remember;                        // already in place, not in the ledger
    std::vector<std::string> removes;                         // files the task deleted
  };
  // A file the task deleted: removed when nobody changed it since the seed.
  Status PlanRemoval(const std::string& path, const std::map<std::string, std::string>& seed,
                     MergePlan* plan);
  Status MergeFile(const Task& task, int attempt, const FileDigest& f,
                   const std::map<std::string, std::string>& seed, MergePlan* plan);
  // Records `path` as written by the merge of `task`, with its content.
  Status Remember(const Task& task, int attempt, const std::string& path, const FileBeneath& file,
                  double now);
  // Appends to conflicts.json: `task` met `with` over `files`, resolved so.
  Status RecordCase(const Task& task, int attempt, const std::vector<std::string>& files,
                    const std::set<std::string>& with, const std::string& resolution);
  Status SaveLedger();
  void Commit(const Task& task);
  // The task to blame for `path` changing: its last merger, else the task
  // that declares it as an output, else "a command task".
  std::string Blame(const std::string& path) const;
  // Command tasks: the AI-merged files they changed, each put back.
  // Those it changed although it started before their merge (it could not
  // have seen them) are put back; those it changed after seeing them are
  // its own from then on.
  std::vector<std::string> CheckMergedFilesKept(const Task& task, const BackendEvent& ev);

  const Plan* plan_;
  RunLayout layout_;
  MergeConfig config_;
  bool isolated_commands_ = false;  // merge.isolate_commands decided for this plan
  std::map<std::string, Owner> owners_;  // output path -> who wrote it last
};

}  // namespace porch
