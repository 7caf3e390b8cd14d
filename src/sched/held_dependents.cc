#include "sched/held_dependents.h"

namespace porch {

HeldDependents::HeldDependents(const Dag& dag, const std::vector<uint8_t>* states,
                               const std::vector<uint32_t>* waiting_on,
                               const std::vector<uint32_t>* path_len)
    : dag_(dag), states_(states), waiting_on_(waiting_on), path_len_(path_len) {
  job_id_.resize(dag.size());
  requeue_.assign(dag.size(), 0);
}

HeldDependents::Key HeldDependents::KeyOf(Dag::Index i) const {
  return (static_cast<uint64_t>((*path_len_)[i]) << 32) | (UINT32_MAX - i);
}

bool HeldDependents::Eligible(Dag::Index i) const {
  if (state(i) != TaskState::kPending || (*waiting_on_)[i] == 0) return false;
  for (Dag::Index d : dag_.deps(i)) {
    TaskState s = state(d);
    if (s == TaskState::kSucceeded) continue;
    if (s == TaskState::kRunning && !job_id_[d].empty() && !requeue_[d]) continue;
    return false;
  }
  return true;
}

void HeldDependents::Offer(Dag::Index i) {
  if (Eligible(i)) candidates_.push(KeyOf(i));
}

std::optional<Dag::Index> HeldDependents::Next() {
  while (!candidates_.empty()) {
    Dag::Index i = UINT32_MAX - static_cast<Dag::Index>(candidates_.top() & 0xffffffffu);
    candidates_.pop();
    if (Eligible(i)) return i;
  }
  return std::nullopt;
}

std::vector<std::string> HeldDependents::After(Dag::Index i) const {
  std::vector<std::string> after;
  for (Dag::Index d : dag_.deps(i)) {
    if (state(d) == TaskState::kRunning) after.push_back(job_id_[d]);
  }
  return after;
}

void HeldDependents::OnSubmitted(Dag::Index i, const std::string& job_id) {
  job_id_[i] = job_id;
  for (Dag::Index out : dag_.dependents(i)) Offer(out);
}

void HeldDependents::OnRequeueEnded(Dag::Index i) {
  requeue_[i] = 0;
  job_id_[i].clear();
}

void HeldDependents::Requeue(Dag::Index i, Backend* backend, const std::vector<int32_t>& attempts) {
  for (Dag::Index out : dag_.dependents(i)) {
    if (state(out) != TaskState::kRunning || requeue_[out]) continue;
    requeue_[out] = 1;
    backend->Cancel(out, attempts[out]);
    Requeue(out, backend, attempts);
  }
}

void HeldDependents::OnEnded(Dag::Index i, bool succeeded, Backend* backend,
                             const std::vector<int32_t>& attempts) {
  job_id_[i].clear();
  if (!succeeded) Requeue(i, backend, attempts);
}

void HeldDependents::CancelOrphans(Backend* backend, const std::vector<int32_t>& attempts) {
  for (Dag::Index i = 0; i < dag_.size(); ++i) {
    if (state(i) != TaskState::kRunning || requeue_[i]) continue;
    for (Dag::Index d : dag_.deps(i)) {
      if (state(d) != TaskState::kSucceeded && state(d) != TaskState::kRunning) {
        requeue_[i] = 1;
        backend->Cancel(i, attempts[i]);
        Requeue(i, backend, attempts);
        break;
      }
    }
  }
}

}  // namespace porch
