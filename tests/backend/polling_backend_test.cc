#include "backend/polling_backend.h"
#include "backend/verdict.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace porch {
namespace {

// A backend whose attempts end at scripted times; records its polls.
class ScriptedPoller : public PollingBackend {
 public:
  ScriptedPoller(FakeClock* clock, double interval, bool cheap)
      : PollingBackend(clock), interval_(interval), cheap_(cheap) {}
  std::string name() const override { return "scripted"; }
  std::vector<Result<std::string>> Submit(std::span<const Launch>) override { return {}; }
  void Cancel(Dag::Index, int) override { PollSoon(); }
  Result<RecoverOutcome> Recover(const InFlight&) override { return RecoverOutcome::kLost; }

  void EndAt(double t, Dag::Index index) { ends_.push_back({t, index}); }
  void Started(Dag::Index index) { Emit(StartedEvent(index, 1, clock_->Now())); }
  std::vector<double> polls;

 protected:
  void Poll(std::vector<BackendEvent>* events) override {
    polls.push_back(clock_->Now());
    for (auto it = ends_.begin(); it != ends_.end();) {
      if (it->first <= clock_->Now()) {
        events->push_back(FailedEvent(it->second, 1, clock_->Now(), FailureReason::kNone, ""));
        it = ends_.erase(it);
      } else {
        ++it;
      }
    }
  }
  double PollInterval() const override { return interval_; }
  bool PollIsCheap() const override { return cheap_; }

 private:
  double interval_;
  bool cheap_;
  std::vector<std::pair<double, Dag::Index>> ends_;
};

TEST(PollingBackendTest, LooksEveryIntervalAndReturnsWhatHappened) {
  FakeClock clock(0);
  ScriptedPoller b(&clock, /*interval=*/2, /*cheap=*/false);
  b.EndAt(5, 7);
  std::vector<BackendEvent> evs = b.Wait(10);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].index, 7u);
  EXPECT_EQ(clock.Now(), 6);  // the first look at or after 5
  EXPECT_EQ(b.polls, (std::vector<double>{0, 2, 4, 6}));
}

TEST(PollingBackendTest, TheDeadlineEndsTheWaitWithoutAnExtraLook) {
  FakeClock clock(0);
  ScriptedPoller b(&clock, 5, false);
  EXPECT_TRUE(b.Wait(3).empty());
  EXPECT_EQ(clock.Now(), 3);
  EXPECT_EQ(b.polls, (std::vector<double>{0}));  // next look is due at 5, not at the deadline
  EXPECT_TRUE(b.Wait(4).empty());
  EXPECT_EQ(b.polls.size(), 1u);
}

TEST(PollingBackendTest, EmittedEventsComeFirstAndPollSoonLooksEarly) {
  FakeClock clock(0);
  ScriptedPoller b(&clock, 100, false);
  b.Started(4);
  std::vector<BackendEvent> evs = b.Wait(1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, BackendEvent::Kind::kStarted);
  EXPECT_EQ(clock.Now(), 0);  // nothing to wait for
  clock.Set(10);
  b.EndAt(10, 2);
  EXPECT_TRUE(b.Wait(10).empty());  // the next look is not due before 100
  b.Cancel(2, 1);                   // PollSoon
  evs = b.Wait(50);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(clock.Now(), 10);
}

TEST(PollingBackendTest, CheapLooksHappenAtEveryWait) {
  FakeClock clock(0);
  ScriptedPoller b(&clock, 100, /*cheap=*/true);
  EXPECT_TRUE(b.Wait(0).empty());
  EXPECT_TRUE(b.Wait(0).empty());
  EXPECT_EQ(b.polls.size(), 2u);
}

}  // namespace
}  // namespace porch
