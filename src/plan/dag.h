// The task graph in index form, built once from a Plan. Pure, no I/O.
//
// Edges are stored in compressed sparse rows (one offsets array and one
// targets array per direction), so a million-task plan costs a few bytes per
// edge. Indices are positions in Plan::tasks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "plan/task.h"

namespace porch {

class Dag {
 public:
  using Index = uint32_t;

  // Builds the graph. Dependencies that name no task are left out and listed
  // in unknown_deps(); validation reports them.
  explicit Dag(const Plan& plan);

  size_t size() const { return dep_offsets_.size() - 1; }
  std::span<const Index> deps(Index i) const { return Row(dep_offsets_, dep_targets_, i); }
  std::span<const Index> dependents(Index i) const {
    return Row(out_offsets_, out_targets_, i);
  }

  // Index of `id`, or -1.
  int64_t Find(std::string_view id) const;

  struct UnknownDep {
    Index task;
    std::string name;
  };
  const std::vector<UnknownDep>& unknown_deps() const { return unknown_deps_; }

  // One cycle as task indices [a, b, c] meaning a -> b -> c -> a (each
  // depends on the next), or empty when the graph is acyclic.
  std::vector<Index> FindCycle() const;

  // For each task, the number of tasks on the longest path from it to the
  // end of the graph, itself included (leaves have 1). Requires acyclic.
  std::vector<uint32_t> RemainingPathLengths() const;

  // Tasks in an order where dependencies come first. Requires acyclic.
  std::vector<Index> TopologicalOrder() const;

 private:
  static std::span<const Index> Row(const std::vector<uint32_t>& offsets,
                                    const std::vector<Index>& targets, Index i) {
    return {targets.data() + offsets[i], targets.data() + offsets[i + 1]};
  }

  std::unordered_map<std::string_view, Index> by_id_;  // views into the Plan
  std::vector<uint32_t> dep_offsets_;
  std::vector<Index> dep_targets_;
  std::vector<uint32_t> out_offsets_;
  std::vector<Index> out_targets_;
  std::vector<UnknownDep> unknown_deps_;
};

}  // namespace porch
