// The early-dependents policy, for backends whose capabilities hold
// dependents (SLURM's afterok): a task whose dependencies are all succeeded
// or running (with a job id, and not themselves being requeued) may be
// submitted at once, naming the running ones; the backend starts it when
// they succeed. When one of them does not succeed, the held attempts behind
// it are cancelled and wait again: such requeues cost no retry.
//
// The Scheduler owns one of these only when the backend holds dependents;
// everything else about readiness stays in the Scheduler. Pure: the task
// states are the Scheduler's (read through the pointer given), and the only
// outside call is Backend::Cancel.
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "journal/run_state.h"
#include "model/backend.h"
#include "plan/dag.h"

namespace porch {

class HeldDependents {
 public:
  using Key = uint64_t;
  // `states` (TaskState per task), `waiting_on` (dependencies not yet
  // succeeded, per task) and `path_len` (remaining path, the priority) belong
  // to the Scheduler and outlive this object.
  HeldDependents(const Dag& dag, const std::vector<uint8_t>* states,
                 const std::vector<uint32_t>* waiting_on, const std::vector<uint32_t>* path_len);

  // Task `i` may now be eligible (its dependencies changed): offer it.
  void Offer(Dag::Index i);
  // The best eligible candidate, if any (stale entries are skipped).
  std::optional<Dag::Index> Next();
  bool HasCandidates() const { return !candidates_.empty(); }

  // The job ids of `i`'s dependencies that still run: Launch::after.
  std::vector<std::string> After(Dag::Index i) const;
  // `i`'s attempt went out as job `job_id`: its dependents may follow it.
  void OnSubmitted(Dag::Index i, const std::string& job_id);
  // A restored attempt of `i` runs as `job_id` (resume).
  void Restore(Dag::Index i, const std::string& job_id) { job_id_[i] = job_id; }

  // `i` was cancelled because a dependency did not succeed: its ending is a
  // requeue, not a failure.
  bool IsRequeued(Dag::Index i) const { return requeue_[i] != 0; }
  // The requeued attempt of `i` has ended.
  void OnRequeueEnded(Dag::Index i);
  // `i`'s attempt ended for good (succeeded or not); when it did not
  // succeed, the held attempts behind it are cancelled (transitively).
  void OnEnded(Dag::Index i, bool succeeded, Backend* backend, const std::vector<int32_t>& attempts);
  // After a resume: held attempts whose dependency is no longer running or
  // done (it was lost while porch was down) wait on a job that will not
  // succeed; cancel and requeue them.
  void CancelOrphans(Backend* backend, const std::vector<int32_t>& attempts);

 private:
  bool Eligible(Dag::Index i) const;
  void Requeue(Dag::Index i, Backend* backend, const std::vector<int32_t>& attempts);
  TaskState state(Dag::Index i) const { return static_cast<TaskState>((*states_)[i]); }
  Key KeyOf(Dag::Index i) const;

  const Dag& dag_;
  const std::vector<uint8_t>* states_;
  const std::vector<uint32_t>* waiting_on_;
  const std::vector<uint32_t>* path_len_;
  std::priority_queue<Key> candidates_;
  std::vector<std::string> job_id_;  // the running attempt's job id
  std::vector<uint8_t> requeue_;     // cancelled because a dependency failed
};

}  // namespace porch
