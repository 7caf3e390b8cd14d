#include "plan/dag.h"

#include <algorithm>
#include <cassert>

namespace porch {

Dag::Dag(const Plan& plan) {
  const size_t n = plan.tasks.size();
  by_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) by_id_.emplace(plan.tasks[i].id, static_cast<Index>(i));

  dep_offsets_.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& name : plan.tasks[i].depends_on) {
      int64_t d = Find(name);
      if (d < 0) {
        unknown_deps_.push_back({static_cast<Index>(i), name});
        continue;
      }
      dep_targets_.push_back(static_cast<Index>(d));
    }
    dep_offsets_[i + 1] = static_cast<uint32_t>(dep_targets_.size());
  }
  // Reverse edges by counting sort.
  out_offsets_.assign(n + 1, 0);
  for (Index d : dep_targets_) ++out_offsets_[d + 1];
  for (size_t i = 0; i < n; ++i) out_offsets_[i + 1] += out_offsets_[i];
  out_targets_.resize(dep_targets_.size());
  std::vector<uint32_t> fill(out_offsets_.begin(), out_offsets_.end() - 1);
  for (size_t i = 0; i < n; ++i) {
    for (Index d : deps(static_cast<Index>(i))) out_targets_[fill[d]++] = static_cast<Index>(i);
  }
}

int64_t Dag::Find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? -1 : static_cast<int64_t>(it->second);
}

std::vector<Dag::Index> Dag::FindCycle() const {
  // Iterative DFS over dependency edges; a grey node reached again closes a
  // cycle, which we read back from the DFS stack.
  enum : uint8_t { kWhite, kGrey, kBlack };
  const size_t n = size();
  std::vector<uint8_t> color(n, kWhite);
  struct Frame {
    Index node;
    uint32_t next;  // position in deps(node)
  };
  std::vector<Frame> stack;
  for (Index root = 0; root < n; ++root) {
    if (color[root] != kWhite) continue;
    stack.push_back({root, 0});
    color[root] = kGrey;
    while (!stack.empty()) {
      Frame& f = stack.back();
      auto row = deps(f.node);
      if (f.next == row.size()) {
        color[f.node] = kBlack;
        stack.pop_back();
        continue;
      }
      Index d = row[f.next++];
      if (color[d] == kWhite) {
        color[d] = kGrey;
        stack.push_back({d, 0});
      } else if (color[d] == kGrey) {
        std::vector<Index> cycle;
        size_t start = stack.size();
        while (stack[start - 1].node != d) --start;
        for (size_t k = start - 1; k < stack.size(); ++k) cycle.push_back(stack[k].node);
        return cycle;
      }
    }
  }
  return {};
}

std::vector<Dag::Index> Dag::TopologicalOrder() const {
  const size_t n = size();
  std::vector<uint32_t> pending(n);
  std::vector<Index> order;
  order.reserve(n);
  for (Index i = 0; i < n; ++i) {
    pending[i] = static_cast<uint32_t>(deps(i).size());
    if (pending[i] == 0) order.push_back(i);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    for (Index out : dependents(order[k])) {
      if (--pending[out] == 0) order.push_back(out);
    }
  }
  assert(order.size() == n && "TopologicalOrder() on a cyclic graph");
  return order;
}

std::vector<uint32_t> Dag::RemainingPathLengths() const {
  std::vector<Index> order = TopologicalOrder();
  std::vector<uint32_t> length(size(), 1);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    uint32_t best = 0;
    for (Index out : dependents(*it)) best = std::max(best, length[out]);
    length[*it] = best + 1;
  }
  return length;
}

}  // namespace porch
