#include "plan/dag.h"

#include <gtest/gtest.h>

namespace porch {
namespace {

Plan MakePlan(const std::vector<std::pair<std::string, std::vector<std::string>>>& spec) {
  Plan p;
  for (const auto& [id, deps] : spec) {
    Task t;
    t.id = id;
    t.command = "true";
    t.depends_on = deps;
    p.tasks.push_back(t);
  }
  return p;
}

TEST(DagTest, EdgesBothWays) {
  Plan p = MakePlan({{"a", {}}, {"b", {"a"}}, {"c", {"a", "b"}}});
  Dag dag(p);
  ASSERT_EQ(dag.size(), 3u);
  EXPECT_EQ(dag.deps(2).size(), 2u);
  EXPECT_EQ(dag.dependents(0).size(), 2u);
  EXPECT_EQ(dag.Find("c"), 2);
  EXPECT_EQ(dag.Find("zz"), -1);
  EXPECT_TRUE(dag.unknown_deps().empty());
}

TEST(DagTest, RemainingPathLengths) {
  // a -> b -> c (chain), d alone, e depends on a.
  Plan p = MakePlan({{"a", {}}, {"b", {"a"}}, {"c", {"b"}}, {"d", {}}, {"e", {"a"}}});
  std::vector<uint32_t> len = Dag(p).RemainingPathLengths();
  EXPECT_EQ(len, (std::vector<uint32_t>{3, 2, 1, 1, 1}));
}

TEST(DagTest, TopologicalOrderPutsDependenciesFirst) {
  Plan p = MakePlan({{"c", {"b"}}, {"b", {"a"}}, {"a", {}}});
  Dag dag(p);
  std::vector<Dag::Index> order = dag.TopologicalOrder();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order, (std::vector<Dag::Index>{2, 1, 0}));
}

TEST(DagTest, FindCycle) {
  EXPECT_TRUE(Dag(MakePlan({{"a", {}}, {"b", {"a"}}})).FindCycle().empty());
  std::vector<Dag::Index> cycle = Dag(MakePlan({{"x", {}}, {"a", {"b"}}, {"b", {"a"}}})).FindCycle();
  EXPECT_EQ(cycle, (std::vector<Dag::Index>{1, 2}));
}

TEST(DagTest, UnknownDepsAreListed) {
  Dag dag(MakePlan({{"a", {"nope"}}}));
  ASSERT_EQ(dag.unknown_deps().size(), 1u);
  EXPECT_EQ(dag.unknown_deps()[0].name, "nope");
}

}  // namespace
}  // namespace porch
