#include "backend/escalation.h"

#include <gtest/gtest.h>

namespace porch {
namespace {

TEST(ResourceEscalationTest, MemoryGrowsPerOomUpToTheCap) {
  ResourceEscalation e({/*memory_factor=*/2, /*max_memory_bytes=*/1000, 2, 0});
  EXPECT_EQ(e.Memory(0, 100), 100u);
  e.Record(0, FailureReason::kOom);
  EXPECT_EQ(e.Memory(0, 100), 200u);
  e.Record(0, FailureReason::kOom);
  e.Record(0, FailureReason::kExitCode);  // not counted
  EXPECT_EQ(e.Memory(0, 100), 400u);
  for (int k = 0; k < 5; ++k) e.Record(0, FailureReason::kOom);
  EXPECT_EQ(e.Memory(0, 100), 1000u);     // capped
  EXPECT_EQ(e.Memory(0, 5000), 5000u);    // a task that asked for more than the cap keeps it
  EXPECT_EQ(e.Memory(0, 0), 0u);          // no limit stays no limit
  EXPECT_EQ(e.Memory(1, 100), 100u);      // other tasks are untouched
}

TEST(ResourceEscalationTest, TimeGrowsPerTimeoutUpToTheCap) {
  ResourceEscalation e({2, 1000, /*time_factor=*/2, /*max_time_s=*/100});
  e.Record(3, FailureReason::kTimeout);
  EXPECT_EQ(e.Time(3, 30), 60);
  e.Record(3, FailureReason::kTimeout);
  EXPECT_EQ(e.Time(3, 30), 100);
  ResourceEscalation off({1, 1000, 2, 0});  // no max time: not escalated
  off.Record(0, FailureReason::kTimeout);
  off.Record(0, FailureReason::kOom);
  EXPECT_EQ(off.Time(0, 30), 30);
  EXPECT_EQ(off.Memory(0, 30), 30u);        // factor 1: no memory escalation
}

}  // namespace
}  // namespace porch
